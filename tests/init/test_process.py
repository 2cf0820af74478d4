"""The entrypoint under ember-init: environment and user, output relay and
PTY, signals, graceful shutdown, reaping and cgroup placement."""
import os
import pty
import signal
import subprocess
import threading
import time

import pytest

from testroot import TestRoot, remove_cgroup


def sh(script, **process):
    return {"process": dict({"args": ["/bin/sh", "-c", script]}, **process)}


def test_env_user_groups_home_cwd(root):
    root.write("srv/app/.keep", "")
    root.write_config(sh('echo "id=$(id -u):$(id -g)"; echo "groups=$(id -G)"; echo "home=$HOME"; '
                         'echo "cwd=$(pwd)"; echo "path=$PATH"; echo "k=$K"',
                         user="alice", cwd="/srv/app", env=["K=V"]))
    result = root.boot()
    out = result.lines
    assert "id=1000:1000" in out, result.output
    groups = next(line for line in out if line.startswith("groups="))
    assert set(groups[7:].split()) == {"1000", "50", "2000"}
    assert "home=/home/alice" in out
    assert "cwd=/srv/app" in out
    assert "path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in out
    assert "k=V" in out


def test_uid_gid_and_explicit_home(root):
    root.write_config(sh('echo "$(id -u):$(id -g) $HOME"', user="1001:50",
                         env=["HOME=/custom", "PATH=/bin"]))
    result = root.boot()
    assert "1001:50 /custom" in result.lines, result.output


def test_signal_mask_and_fds_reset(root):
    root.write_config(sh("grep -E '^Sig(Blk|Ign)' /proc/self/status; echo fds $(ls /proc/self/fd)"))
    result = root.boot()
    assert "SigBlk:\t0000000000000000" in result.output, result.output
    assert "SigIgn:\t0000000000000000" in result.output
    assert "fds 0 1 2 3" in result.lines  # 3 is the directory ls reads


def test_output_without_newline_kept(root):
    root.write_config(sh("echo first; printf 'no-newline-at-end'"))
    result = root.boot()
    assert "no-newline-at-end\n" in result.output, result.output
    assert result.exit_line == "ember: exit status 0"


def test_large_output_reaches_console(root):
    root.write_config(sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"))
    result = root.boot()
    assert "line-0" in result.lines
    assert "line-1999" in result.lines
    assert result.exit_line == "ember: exit status 0"


def test_pty_relay(root):
    root.write_config(sh('tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; '
                         'read line; echo "got:$line"', terminal=True))
    root.start(stdin=subprocess.PIPE)
    root.wait_for_output("stdio-is-a-tty")
    root.proc.stdin.write(b"typed-on-console\n")
    root.proc.stdin.flush()
    result = root.wait()
    assert "/dev/pts/0" in result.output, result.output
    assert "got:typed-on-console" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_pty_job_control(root):
    # An interactive shell with job control needs a controlling terminal and
    # its own foreground process group.
    root.write_config(sh("sh -i -c 'sleep 0.1 & jobs; wait; echo jobs-done'; "
                         "cat /proc/self/stat | cut -d' ' -f5,8 | "
                         "(read pgrp tpgid; [ $pgrp = $tpgid ] && echo in-foreground)",
                         terminal=True))
    result = root.boot()
    assert "jobs-done" in result.output, result.output
    assert "in-foreground" in result.output
    assert "can't access tty" not in result.output


def test_signal_forwarding(root):
    root.write_config(sh("trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; "
                         "trap 'echo got-winch' WINCH; echo ready; "
                         "while [ ! -e /tmp/stop ]; do sleep 0.05; done"))
    root.start()
    root.wait_for_output("ready")
    pid = root.init_pid()
    for sig, text in ((signal.SIGUSR1, "got-usr1"), (signal.SIGHUP, "got-hup"),
                      (signal.SIGWINCH, "got-winch")):
        os.kill(pid, sig)
        root.wait_for_output(text)
    root.write("tmp/stop", "")
    result = root.wait()
    assert result.exit_line == "ember: exit status 0"


def test_sigterm_graceful_shutdown(root):
    root.write_config(sh("trap 'echo saved > /tmp/saved; exit 0' TERM; echo ready; "
                         "while true; do sleep 0.05; done"))
    root.start()
    root.wait_for_output("ready")
    os.kill(root.init_pid(), signal.SIGTERM)
    result = root.wait()
    assert root.read("tmp/saved") == "saved\n"
    assert "shutting down" in result.output
    assert result.exit_line == "ember: exit status 0"
    assert result.powered_off


def test_stop_signal_from_config(root):
    root.write_config(sh("trap 'echo quit-received; exit 5' QUIT; trap '' TERM; echo ready; "
                         "while true; do sleep 0.05; done", stop_signal="SIGQUIT"))
    root.start()
    root.wait_for_output("ready")
    os.kill(root.init_pid(), signal.SIGINT)  # Ctrl-Alt-Del
    result = root.wait()
    assert "quit-received" in result.output
    assert result.exit_line == "ember: exit status 5"


def test_stop_timeout_kills(root):
    root.write_config(sh("trap '' TERM; echo ready; while true; do sleep 0.05; done",
                         stop_timeout=1))
    root.start()
    root.wait_for_output("ready")
    started = time.monotonic()
    os.kill(root.init_pid(), signal.SIGPWR)
    result = root.wait()
    assert 0.9 < time.monotonic() - started < 5
    assert "killing them" in result.output
    assert result.exit_line == "ember: exit status 137"


def test_setsid_escapee_terminated(root):
    root.write_config(sh("setsid sh -c 'trap \"echo escapee-term > /tmp/escapee; exit 0\" TERM;"
                         " while true; do sleep 0.05; done' & sleep 0.2; echo main-exits",
                         stop_timeout=10))
    started = time.monotonic()
    result = root.boot()
    assert time.monotonic() - started < 5, result.output
    assert root.read("tmp/escapee") == "escapee-term\n"
    assert result.exit_line == "ember: exit status 0"


def test_orphans_reaped_no_zombies(root):
    root.write_config(sh(
        "(sh -c 'sleep 0.1' &) ; (sh -c 'exit 3' &) ; "
        "sh -c '(sleep 0.05 &) & exit 0'; sleep 0.5; "
        "for s in /proc/[0-9]*/stat; do read -r line < $s 2>/dev/null && echo \"$line\"; done "
        "| awk '{print \"state\", $1, $3}'"))
    result = root.boot()
    states = [line.split() for line in result.lines if line.startswith("state ")]
    assert states, result.output
    assert not [s for s in states if s[2] == "Z"], result.output


def test_rapid_child_and_grandchild_exit(tmp_path, ember_bin):
    """200 boots where the entrypoint and its child exit at the same moment:
    coalesced SIGCHLDs must never leave init waiting."""
    with TestRoot(tmp_path, ember_bin("ember-init")) as r:
        r.write_config({"process": {"args": ["/bin/sh", "-c", "/bin/true & exit 7"]}})
        for run in range(200):
            subprocess.run(["mount", "-o", "remount,rw", r.path], check=True)
            subprocess.run(["mount", "-o", "remount,rw", r.join("dev")], check=True)
            result = r.boot(timeout=10)
            assert result.exit_line == "ember: exit status 7", f"run {run}: {result.output}"
            r._output = bytearray()


def test_workload_cgroup_placement(root):
    root.write_config(sh("echo entry $(grep ^0:: /proc/self/cgroup); "
                         "echo init $(grep ^0:: /proc/1/cgroup); "
                         "echo ready; while [ ! -e /tmp/stop ]; do sleep 0.05; done"))
    root.start()
    root.wait_for_output("ready")
    assert os.path.isdir(os.path.join(root.cgroup, "workload"))
    assert os.path.isdir(os.path.join(root.cgroup, "ember"))
    with open(os.path.join(root.cgroup, "ember", "cgroup.procs")) as f:
        assert str(root.init_pid()) in f.read().split()
    root.write("tmp/stop", "")
    result = root.wait()
    assert "entry 0::/workload" in result.lines, result.output
    assert "init 0::/ember" in result.lines


def test_frozen_workload_thawed_before_stop(root):
    root.write_config(sh("trap 'echo thawed-and-stopped > /tmp/stopped; exit 0' TERM; "
                         "echo ready; while true; do sleep 0.05; done"))
    root.start()
    root.wait_for_output("ready")
    freeze = os.path.join(root.cgroup, "workload", "cgroup.freeze")
    with open(freeze, "w") as f:
        f.write("1")
    os.kill(root.init_pid(), signal.SIGTERM)
    result = root.wait(timeout=20)
    assert root.read("tmp/stopped") == "thawed-and-stopped\n", result.output
    assert result.exit_line == "ember: exit status 0"


def test_stalled_console_never_blocks(root):
    root.write_config(sh("i=0; while [ $i -lt 400 ]; do "
                         "head -c 4096 /dev/zero | tr '\\0' x; echo; i=$((i+1)); done"))
    started = time.monotonic()
    root.start(read_console=False)
    try:
        root.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        root.read_console_later()
        raise AssertionError("init blocked on a console nobody reads")
    assert time.monotonic() - started < 15
    assert root.proc.returncode == -signal.SIGINT
    root.read_console_later()
    root._reader.join(timeout=5)
    # Everything beyond the pipe and init's own buffer was dropped, not queued.
    assert len(root.output) < 400 * 4097


def test_frozen_filesystem_thawed_at_shutdown(root):
    data = root.mount_image("data")
    root.write_config(sh("echo /data > /run/ember/frozen; echo ready; "
                         "while [ ! -e /tmp/go ]; do sleep 0.02; done; "
                         "(trap '' TERM; echo written > /data/file) & "
                         "trap 'exit 0' TERM; while true; do sleep 0.05; done",
                         stop_timeout=10))
    root.start()
    root.wait_for_output("ready")
    subprocess.run(["fsfreeze", "-f", data], check=True)
    try:
        root.write("tmp/go", "")
        time.sleep(0.3)
        started = time.monotonic()
        os.kill(root.init_pid(), signal.SIGTERM)
        result = root.wait(timeout=20)
        # A writer blocked on a frozen filesystem would outlast the stop timeout.
        assert time.monotonic() - started < 5, result.output
    finally:
        subprocess.run(["fsfreeze", "-u", data], capture_output=True)
    assert "thawed /data" in result.output, result.output
    assert result.exit_line == "ember: exit status 0"
    with open(os.path.join(data, "file")) as f:
        assert f.read() == "written\n"


def test_stopped_entrypoint_continued(root):
    root.write_config(sh("echo ready; kill -STOP $$; sleep 100", stop_timeout=5))
    root.start()
    root.wait_for_output("ready")
    time.sleep(0.2)
    started = time.monotonic()
    os.kill(root.init_pid(), signal.SIGTERM)
    result = root.wait()
    assert time.monotonic() - started < 3, result.output
    assert result.exit_line == "ember: exit status 143"


def test_missing_cwd_is_126(root):
    root.write_config(sh("pwd", cwd="/does/not/exist"))
    result = root.boot()
    assert "failed to change to working directory '/does/not/exist'" in result.output
    assert result.exit_line == "ember: exit status 126"


def test_pty_output_reaches_ring(root):
    root.write_config(sh("echo on-the-pty; sleep 0.1; "
                         "grep -c on-the-pty /run/ember/entrypoint.log", terminal=True))
    result = root.boot()
    counts = [line.strip() for line in result.lines if line.strip().isdigit()]
    assert counts == ["1"], result.output


def test_ctrl_c_through_console_pty(root):
    """With a terminal as the console, Ctrl-C typed there reaches the
    entrypoint's foreground group through init's relay."""
    root.write_config(sh("echo ready; exec sleep 30", terminal=True))
    master, slave = pty.openpty()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "EMBER_CMDLINE_FILE": "/etc/ember/test-cmdline"}
    proc = subprocess.Popen(root.command(), stdin=slave, stdout=slave, stderr=slave, env=env)
    root.proc = proc  # so that the fixture's cleanup kills init by PID on failure
    os.close(slave)
    output = bytearray()

    def read_console():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    reader = threading.Thread(target=read_console, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while b"ready" not in output and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b"ready" in output, output
        os.write(master, b"\x03")
        proc.wait(timeout=15)
    finally:
        root.kill()
    reader.join(timeout=2)
    os.close(master)
    text = output.decode(errors="replace")
    assert "ember: exit status 130" in text, text

