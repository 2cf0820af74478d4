"""ember-agent started by ember-init as PID 1 of fresh namespaces (see
tests/lib/testroot.py): logs, wait, shutdown, start, and session cgroups.
The agent listens on a Unix socket in the test root, which the test reaches
through the root's mount."""
import os
import subprocess
import time

import core_client as c
import pytest
from testroot import TestRoot

CODE_FAILED_PRECONDITION = 6


@pytest.fixture
def boot(ember_bin, tmp_path):
    roots = []

    def start(process, **config):
        root = TestRoot(tmp_path / f"r{len(roots)}", ember_bin("ember-init"),
                        agent_binary=ember_bin("ember-agent"))
        root.__enter__()
        roots.append(root)
        config.setdefault("agent", {})["listen"] = ["unix:/agent.sock"]
        root.write_config({"process": process, **config})
        root.start()
        sock = root.join("agent.sock")
        deadline = time.monotonic() + 10
        while True:
            try:
                with c.Connection("unix:" + sock) as conn:
                    conn.unary(c.OP_PING)
                break
            except OSError:
                assert time.monotonic() < deadline, root.output
                time.sleep(0.02)
        root.addr = "unix:" + sock
        return root

    yield start
    for root in roots:
        root.cleanup()


def read_logs(addr, follow=False, offset=0, tail=0):
    body = c.field_varint(1, follow) + c.field_varint(2, offset) + c.field_varint(3, tail)
    data = bytearray()
    lost = []
    expected = None if tail else offset
    with c.Connection(addr) as conn:
        conn.send_request(c.OP_LOGS, body)
        while True:
            kind, fields = conn.recv()
            if kind == c.OUTPUT:
                assert c.first(fields, 1) == 2
                if expected is not None:
                    assert c.first(fields, 2) == expected
                data += c.first(fields, 3, b"")
                expected = c.first(fields, 2) + len(c.first(fields, 3, b""))
            elif kind == c.OUTPUT_LOST:
                lost.append((c.first(fields, 2), c.first(fields, 3)))
                expected = c.first(fields, 2) + c.first(fields, 3)
            elif kind == c.ERROR:
                raise c.AgentError(fields)
            else:
                assert kind == c.ACK
                return bytes(data), lost


def test_info_under_init(boot):
    root = boot({"args": ["/bin/sleep", "30"]})
    with c.Connection(root.addr) as conn:
        kind, fields = conn.unary(c.OP_INFO)
    assert c.first(fields, 11) == 1
    operations = {op.decode() for op in fields[10]}
    assert {"logs", "wait", "shutdown", "start"} <= operations
    steps = [c.first(c.decode(t), 1) for t in fields.get(9, [])]
    assert b"agent" in steps


def test_logs_follow_until_exit_then_wait(boot):
    root = boot({"args": ["/bin/sh", "-c", "echo one; sleep 1; echo two >&2; exit 3"]})
    # The VM powers off when the entrypoint exits, so wait is requested first.
    with c.Connection(root.addr) as conn:
        conn.send_request(c.OP_WAIT)
        data, lost = read_logs(root.addr, follow=True)
        kind, fields = conn.recv()
    assert data == b"one\ntwo\n"
    assert lost == []
    assert kind == c.ENTRYPOINT_EXIT
    assert c.first(fields, 1) == 3
    assert c.first(fields, 3) == 3
    result = root.wait(20)
    assert result.exit_line == "ember: exit status 3"


def test_logs_tail_and_offset(boot):
    root = boot({"args": ["/bin/sh", "-c", "echo abcdefgh; sleep 30"]})
    deadline = time.monotonic() + 5
    while read_logs(root.addr)[0] != b"abcdefgh\n":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert read_logs(root.addr, tail=3)[0] == b"gh\n"
    assert read_logs(root.addr, offset=4)[0] == b"efgh\n"
    with pytest.raises(c.AgentError):
        read_logs(root.addr, offset=1000)


def test_wait_blocks_until_exit(boot):
    root = boot({"args": ["/bin/sh", "-c", "sleep 1; kill -9 $$"]})
    start = time.monotonic()
    with c.Connection(root.addr) as conn:
        conn.send_request(c.OP_WAIT)
        kind, fields = conn.recv()
    assert time.monotonic() - start > 0.5
    assert kind == c.ENTRYPOINT_EXIT
    assert c.first(fields, 2) == 9
    assert c.first(fields, 3) == 137


def test_shutdown_powers_off(boot):
    root = boot({"args": ["/bin/sleep", "60"]})
    with c.Connection(root.addr) as conn:
        kind, _ = conn.unary(c.OP_SHUTDOWN, c.field_varint(2, 2))
    assert kind == c.ACK
    result = root.wait(20)
    assert result.powered_off
    assert "ember: exit status" in result.exit_line


def test_shutdown_reboot(boot):
    root = boot({"args": ["/bin/sleep", "60"]})
    with c.Connection(root.addr) as conn:
        kind, _ = conn.unary(c.OP_SHUTDOWN, c.field_varint(1, 1))
    assert kind == c.ACK
    assert root.wait(20).rebooted


def test_start_mode_host(boot):
    root = boot({"args": ["/bin/sh", "-c", "echo configured"], "env": ["BASE=1"]},
                start_mode="host")
    body = c.field_bytes(1, b"/bin/sh") + c.field_bytes(1, b"-c")
    body += c.field_bytes(1, b"echo $BASE $EXTRA $TOKEN; sleep 1")
    body += c.field_bytes(2, b"EXTRA=two") + c.field_bytes(3, b"TOKEN=hidden-value")
    with c.Connection(root.addr) as conn:
        assert conn.unary(c.OP_START, body)[0] == c.ACK
    with c.Connection(root.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(c.OP_START, body)
    assert info.value.code == CODE_FAILED_PRECONDITION
    result = root.wait(20)
    assert "1 two hidden-value" in result.output
    assert result.output.count("hidden-value") == 1, "secrets are never logged"


def test_start_rejects_non_utf8(boot):
    root = boot({"args": ["/bin/true"]}, start_mode="host")
    with c.Connection(root.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(c.OP_START, c.field_bytes(3, b"K=\xff"))
    assert "secrets[0]" in info.value.message
    assert "\\xff" not in info.value.message
    root.kill()


def test_session_cgroup_and_kill_catches_setsid(boot):
    root = boot({"args": ["/bin/sleep", "60"]})
    result = c.run(root.addr, [b"sh", b"-c", b"cat /proc/self/cgroup | grep ^0::"])
    assert result.stdout.startswith(b"0::/workload/")
    assert result.session_id.encode() in result.stdout
    start = time.monotonic()
    result = c.run(root.addr, [b"sh", b"-c", b"setsid sleep 30 > /dev/null 2>&1 & sleep 30"],
                   timeout_ms=300)
    assert result.status == 137
    assert time.monotonic() - start < 5
    with c.Connection(root.addr) as conn:
        assert conn.unary(c.OP_SHUTDOWN)[0] == c.ACK
    root.wait(20)
    assert "setsid" not in root.output


def test_shell_missing_login_shell_falls_back(boot):
    root = boot({"args": ["/bin/sleep", "60"]})
    with open(root.join("etc/passwd"), "a") as f:
        f.write("ghost:x:3000:3000:Ghost:/home/alice:/bin/no-such-shell\n")
    result = c.run(root.addr, [], shell=True, tty=True, user="ghost",
                   stdin_data=b"echo shell=$0 home=$HOME; id -u; exit 4\n")
    assert result.status == 4
    assert b"shell=/bin/sh" in result.stdout
    assert b"home=/home/alice" in result.stdout
    assert b"3000" in result.stdout


def test_max_copies_from_config(boot, ember_bin, tmp_path):
    """agent.max_copies in init's config reaches the agent that init starts."""
    root = boot({"args": ["/bin/sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done"]},
                agent={"max_copies": 1})
    root.write("tmp/data", "guest data\n")
    emberctl = ember_bin("emberctl")
    copy_out = [emberctl, "-c", root.addr, "cp", ":/tmp/data", str(tmp_path / "out")]

    # A tar stream on a pipe that stays open keeps the first copy running.
    first_copy = subprocess.Popen([emberctl, "-c", root.addr, "cp", "-", ":/tmp"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            out = subprocess.run(copy_out, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                break
            os.unlink(tmp_path / "out")  # the first copy had not started yet
            assert time.monotonic() < deadline, "the second copy was never rejected"
            time.sleep(0.05)
        assert "too many copies: 1 already running and the limit is 1 (max_copies)" in out.stderr
        assert not os.path.exists(tmp_path / "out")
    finally:
        first_copy.stdin.close()
        first_copy.wait(timeout=30)

    # With the first copy over, its slot is free again.
    out = subprocess.run(copy_out, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "out") as f:
        assert f.read() == "guest data\n"
    root.write("tmp/stop", "")
    assert root.wait(20).exit_line == "ember: exit status 0"
