"""The control socket and the agent under ember-init: start mode "host",
wait/ack, shutdown requests, and restarting the agent."""
import json
import os
import resource
import signal
import socket
import stat
import time

import pytest

PANIC_STATUS = 256
FAKE_AGENT = """#!/bin/sh
echo "agent-args: $*"
echo "agent-cgroup: $(grep ^0:: /proc/self/cgroup)"
echo $$ >> /tmp/agent-pids
exec sleep 1000
"""


def host_mode(**extra):
    return dict({"process": {"args": ["/bin/sh", "-c", "echo default-args"],
                             "env": ["FROM_CONFIG=1"]},
                 "start_mode": "host", "start_timeout": 20}, **extra)


def test_start_request_in_host_mode(root):
    root.write_config(host_mode())
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    mode = os.stat(root.in_root("/run/ember/control.sock")).st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert root.control({"op": "status"}) == {"ok": True, "state": "waiting-for-start",
                                              "pid": 0}
    reply = root.control({"op": "start",
                          "args": ["/bin/sh", "-c", "echo token=$TOKEN cfg=$FROM_CONFIG x=$X"],
                          "env": ["X=1"], "secrets": ["TOKEN=s3cret-value"]})
    assert reply["ok"] and reply["pid"] > 0, reply
    result = root.wait()
    assert "token=s3cret-value cfg= x=1" in result.lines, result.output
    assert "default-args" not in result.output
    init_lines = [line for line in result.lines if line.startswith("ember-init:")]
    assert not [line for line in init_lines if "s3cret" in line]
    assert result.exit_line == "ember: exit status 0"


def test_start_keeps_config_when_fields_absent(root):
    root.write_config(host_mode())
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    assert root.control({"op": "start"})["ok"]
    result = root.wait()
    assert "default-args" in result.lines, result.output


def test_second_start_and_bad_requests_rejected(root):
    root.write_config(host_mode(process={
        "args": ["/bin/sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done"]}))
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    bad = root.control({"op": "start", "env": ["NOEQUALS"]})
    assert not bad["ok"]
    assert "KEY=VALUE" in bad["error"]
    bad = root.control({"op": "start", "user": "mallory"})
    assert not bad["ok"]
    assert "unknown user 'mallory'" in bad["error"]
    assert root.control({"op": "start"})["ok"]
    again = root.control({"op": "start"})
    assert not again["ok"]
    assert "already started" in again["error"]
    unknown = root.control({"op": "explode"})
    assert not unknown["ok"]
    assert "unknown op 'explode'" in unknown["error"]
    assert root.control({"op": "status"})["state"] == "running"
    root.write("tmp/stop", "")
    assert root.wait().exit_line == "ember: exit status 0"


def test_cut_error_reply_stays_utf8(root):
    root.write_config(host_mode())
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    # The error limit falls inside a two-byte character. The reply must
    # still arrive as valid JSON, without the cut character.
    bad = root.control({"op": "start", "cwd": "x" + "\u00e9" * 300})
    assert not bad["ok"]
    assert bad["error"].startswith("invalid 'cwd' 'x\u00e9")
    assert len(bad["error"].encode()) < 512
    assert root.control({"op": "status"})["state"] == "waiting-for-start"
    root.control({"op": "shutdown"})
    root.wait()


def test_start_timeout_panics(root):
    root.write_config(host_mode(start_timeout=1))
    result = root.boot(timeout=15)
    assert "no start request arrived within 1 s" in result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"


def test_wait_returns_status_then_ack(root):
    root.write_config(host_mode(process={
        "args": ["/bin/sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done; exit 9"]}))
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    assert root.control({"op": "start"})["ok"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(root.in_root("/run/ember/control.sock"))
        s.send(b'{"op": "wait"}')
        # Requests are handled in order, so this reply shows that init has
        # read the wait. Without an agent, init shuts down at once when the
        # entrypoint exits and would drop a wait it had not read yet.
        s.send(b'{"op": "status"}')
        assert json.loads(s.recv(65536))["state"] == "running"
        root.write("tmp/stop", "")
        reply = json.loads(s.recv(65536))
        assert reply == {"ok": True, "code": 9, "signal": 0, "status": 9}
        s.send(b'{"op": "ack"}')
    result = root.wait()
    assert result.exit_line == "ember: exit status 9"


def test_shutdown_request_reboots(root):
    root.write_config({"process": {"args": ["/bin/sh", "-c",
                                            "trap 'exit 0' TERM; echo ready; "
                                            "while true; do sleep 0.05; done"]}})
    root.start()
    root.wait_for_output("ready")
    reply = root.control({"op": "shutdown", "action": "reboot", "timeout_s": 2})
    assert reply == {"ok": True}
    result = root.wait()
    assert "the host requested it" in result.output
    assert result.rebooted, result.returncode


def test_agent_started_and_restarted(root):
    root.write("sbin/fake-agent", FAKE_AGENT, mode=0o755)
    root.write_config({"agent": {"path": "/sbin/fake-agent", "args": ["--extra"]},
                       "process": {"args": ["/bin/sh", "-c",
                                            "while [ ! -s /tmp/agent-pids ]; do sleep 0.02; done; "
                                            "kill -9 $(head -n1 /tmp/agent-pids); "
                                            "while [ $(wc -l < /tmp/agent-pids) -lt 2 ]; do "
                                            "sleep 0.02; done; echo restarted"]}})
    result = root.boot(timeout=20)
    assert "restarted" in result.lines, result.output
    assert "agent-args: --under-init --config /etc/ember/config.json --extra" in result.lines
    assert "agent-cgroup: 0::/ember" in result.lines
    assert "/sbin/fake-agent was killed by signal 9 (Killed); restarting it in 100 ms " \
        "(restart 1)" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_failed_start_keeps_timeout(root):
    root.write_config(host_mode(start_timeout=2))
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    bad = root.control({"op": "start", "args": ["/bin/true"], "user": "mallory"})
    assert not bad["ok"]
    assert root.control({"op": "status"})["state"] == "waiting-for-start"
    result = root.wait(timeout=15)
    assert "no start request arrived within 2 s" in result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"


def lowest_free_fd(pid):
    used = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
    return next(n for n in range(len(used) + 1) if n not in used)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime and stime


def test_accept_pauses_without_descriptors(root):
    root.write_config(host_mode(process={
        "args": ["/bin/sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done"]}))
    root.start()
    root.wait_for_path("/run/ember/control.sock")
    assert root.control({"op": "start"})["ok"]

    # With no free descriptor number under the limit, accept4 fails with EMFILE.
    # Init closes the connection above only after it reads the hang-up, so the
    # lowest free number is taken once it stops changing.
    pid = root.init_pid()
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    limit = None
    while limit != lowest_free_fd(pid):
        limit = lowest_free_fd(pid)
        time.sleep(0.2)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(10)
            s.connect(root.in_root("/run/ember/control.sock"))
            root.wait_for_output("failed to accept a control connection: "
                                 "No file descriptors available; pausing for 500 ms")
            # The pending connection keeps the socket readable, so a PID 1 that
            # retried at once would use a whole core.
            before = cpu_ticks(pid)
            time.sleep(2)
            ticks = cpu_ticks(pid) - before
            assert ticks < 50, f"init used {ticks} ticks in 2 s while it could not accept"
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))

            # After the pause, init accepts the waiting connection and replies.
            s.send(b'{"op": "status"}')
            assert json.loads(s.recv(65536))["state"] == "running"
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))

    root.write("tmp/stop", "")
    assert root.wait().exit_line == "ember: exit status 0"


# The machine's cgroup v1 pids hierarchy. A child group's pids.max makes init's
# fork fail, and the test's own processes stay outside that group.
PIDS_V1 = "/sys/fs/cgroup/pids"


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def child_running(pid, argv, timeout=10.0):
    """The machine's PID of the child of pid whose command line starts with argv."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:len(argv)] == argv:
                        return int(child)
            except OSError:
                pass  # the child exited meanwhile
        time.sleep(0.02)
    raise AssertionError(f"no child of {pid} runs {argv} after {timeout} s")


def test_agent_fork_failure_retried(root):
    root.write("sbin/fake-agent", FAKE_AGENT, mode=0o755)
    root.write_config({"agent": {"path": "/sbin/fake-agent"},
                       "process": {"args": ["/bin/sh", "-c",
                                            "while [ ! -e /tmp/stop ]; do sleep 0.05; done"]}})
    root.start()
    root.wait_for_output("agent-args:")
    pid = root.init_pid()
    group = os.path.join(PIDS_V1, f"ember-test-{os.getpid()}-{pid}")
    os.mkdir(group)
    try:
        write_file(os.path.join(group, "pids.max"), "1")
        write_file(os.path.join(group, "cgroup.procs"), str(pid))
        os.kill(child_running(pid, [b"sleep", b"1000"]), signal.SIGKILL)
        root.wait_for_output("failed to fork /sbin/fake-agent: Resource temporarily "
                             "unavailable; retrying in 200 ms")
        write_file(os.path.join(group, "pids.max"), "max")
        # The retry after the backoff starts the agent again.
        deadline = time.monotonic() + 10
        while root.output.count("agent-args:") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert root.output.count("agent-args:") == 2, root.output
    finally:
        with open(os.path.join(group, "cgroup.procs")) as f:
            for member in f.read().split():
                try:
                    write_file(os.path.join(PIDS_V1, "cgroup.procs"), member)
                except ProcessLookupError:
                    pass  # it exited after the list was read
        os.rmdir(group)
    root.write("tmp/stop", "")
    assert root.wait().exit_line == "ember: exit status 0"
