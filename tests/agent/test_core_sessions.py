"""Exec sessions of ember-agent driven with tests/lib/core_client.py: exit
status kept until collected, attach offsets, OutputLost, TTL, drain window,
stdin back-pressure, signal and list."""
import time

import core_client as c
import pytest

CODE_INVALID_ARGUMENT = 1
CODE_NOT_FOUND = 2
CODE_FAILED_PRECONDITION = 6
CODE_UNAVAILABLE = 7
RING_MAX = 2 * 1024 * 1024


def start_detached(addr, argv, ttl_s=0):
    with c.Connection(addr) as conn:
        conn.send_request(*c.exec_request(argv, detach=True, ttl_s=ttl_s))
        kind, fields = conn.recv()
        assert kind == c.EXEC_STARTED
        assert conn.recv()[0] is None, "ExecStarted is final with detach"
        return c.first(fields, 1).decode()


def list_sessions(addr):
    with c.Connection(addr) as conn:
        kind, fields = conn.unary(c.OP_LIST)
    assert kind == c.LIST
    return {c.first(s, 1).decode(): s for s in map(c.decode, fields.get(1, []))}


def attach(addr, session_id, stdout_offset=0, stderr_offset=0):
    with c.Connection(addr) as conn:
        conn.send_request(*c.attach_request(session_id, stdout_offset, stderr_offset))
        return c.collect(conn)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_exit_status_kept_until_collected(agent):
    session_id = start_detached(agent.addr, [b"sh", b"-c", b"echo out; echo err >&2; exit 5"])
    wait_until(lambda: not c.first(list_sessions(agent.addr)[session_id], 4))
    info = list_sessions(agent.addr)[session_id]
    assert c.signed(c.first(c.decode(c.first(info, 8)), 7)) == 5
    result = attach(agent.addr, session_id)
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.status == 5
    assert session_id not in list_sessions(agent.addr)
    with c.Connection(agent.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(*c.attach_request(session_id))
    assert info.value.code == CODE_NOT_FOUND


def test_attach_from_offsets(agent):
    session_id = start_detached(agent.addr, [b"sh", b"-c", b"printf 0123456789; printf abc >&2"])
    wait_until(lambda: not c.first(list_sessions(agent.addr)[session_id], 4))
    result = c.ExecResult()
    result.stdout += b"0123"
    result.stderr += b"a"
    with c.Connection(agent.addr) as conn:
        conn.send_request(*c.attach_request(session_id, 4, 1))
        c.collect(conn, result)
    assert result.stdout == b"0123456789"
    assert result.stderr == b"abc"
    assert c.first(result.exit, 5) == 10
    assert c.first(result.exit, 6) == 3


def test_attach_offset_past_output_rejected(agent):
    session_id = start_detached(agent.addr, [b"sh", b"-c", b"printf 12; sleep 30"])
    with c.Connection(agent.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(*c.attach_request(session_id, 1000))
    assert info.value.code == CODE_INVALID_ARGUMENT
    assert session_id in info.value.message
    kill_session(agent.addr, session_id)


def kill_session(addr, session_id):
    with c.Connection(addr) as conn:
        conn.unary(*c.signal_request(session_id, 9, process_group=True))


def test_detached_overflow_reports_output_lost(agent):
    total = RING_MAX + 1000000
    session_id = start_detached(agent.addr, [b"sh", b"-c", f"head -c {total} /dev/zero".encode()])
    wait_until(lambda: not c.first(list_sessions(agent.addr)[session_id], 4))
    result = attach(agent.addr, session_id)
    assert result.lost == [(0, 0, total - RING_MAX)]
    assert len(result.stdout) == total
    assert c.first(result.exit, 5) == total


def test_grace_period_keeps_unsent_output(start_agent):
    """Without a client, a non-detached session stops reading when its ring
    is full instead of overwriting what a reattaching client needs."""
    agent = start_agent(args=["--grace", "30"])
    total = RING_MAX * 2
    conn = c.Connection(agent.addr)
    conn.send_request(*c.exec_request([b"sh", b"-c", f"head -c {total} /dev/urandom".encode()]))
    kind, fields = conn.recv()
    session_id = c.first(fields, 1).decode()
    conn.close()
    time.sleep(1.0)
    assert c.first(list_sessions(agent.addr)[session_id], 4), "the writer is blocked, not done"
    result = attach(agent.addr, session_id)
    assert result.lost == []
    assert len(result.stdout) == total
    assert result.status == 0


def test_detached_ttl_expiry_kills(agent):
    session_id = start_detached(agent.addr, [b"sleep", b"60"], ttl_s=1)
    assert c.first(list_sessions(agent.addr)[session_id], 6)
    wait_until(lambda: session_id not in list_sessions(agent.addr), timeout=5)
    assert "no client within its TTL" in agent.log()


def test_drain_window_bounds_exit(agent):
    start = time.monotonic()
    result = c.run(agent.addr, [b"sh", b"-c", b"(sleep 5; echo late) & echo early"])
    elapsed = time.monotonic() - start
    assert result.stdout == b"early\n"
    assert result.status == 0
    assert 0.9 < elapsed < 4


def test_stdin_larger_than_buffer_to_slow_reader(agent):
    data = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    result = c.run(agent.addr, [b"sh", b"-c", b"sleep 1; sha256sum"], stdin_data=data)
    import hashlib
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_timeout_sets_timed_out(agent):
    start = time.monotonic()
    result = c.run(agent.addr, [b"sh", b"-c", b"sleep 30 & sleep 30"], timeout_ms=300)
    assert time.monotonic() - start < 5
    assert c.first(result.exit, 4) == 1
    assert c.signed(c.first(result.exit, 2)) == 9
    assert result.status == 137


def test_signal_operation_and_list(agent):
    with c.Connection(agent.addr) as conn:
        conn.send_request(*c.exec_request([b"sleep", b"30"]))
        kind, fields = conn.recv()
        session_id = c.first(fields, 1).decode()
        info = list_sessions(agent.addr)[session_id]
        assert c.first(info, 4) == 1
        assert c.first(info, 5) == 1
        assert info[3] == [b"sleep", b"30"]
        with c.Connection(agent.addr) as other:
            assert other.unary(*c.signal_request(session_id, 15))[0] == c.ACK
        result = c.collect(conn)
    assert c.signed(c.first(result.exit, 2)) == 15
    assert result.status == 143


def test_signal_errors(agent):
    with c.Connection(agent.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(*c.signal_request("0000000000000000", 15))
    assert info.value.code == CODE_NOT_FOUND
    session_id = start_detached(agent.addr, [b"true"])
    wait_until(lambda: not c.first(list_sessions(agent.addr)[session_id], 4))
    with c.Connection(agent.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(*c.signal_request(session_id, 15))
    assert info.value.code == CODE_FAILED_PRECONDITION
    with c.Connection(agent.addr) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(*c.signal_request(session_id, 100))
    assert info.value.code == CODE_INVALID_ARGUMENT


def test_new_attach_replaces_old_connection(agent):
    session_id = start_detached(agent.addr, [b"sleep", b"30"])
    first = c.Connection(agent.addr)
    first.send_request(*c.attach_request(session_id))
    assert first.recv()[0] == c.EXEC_STARTED
    with c.Connection(agent.addr) as second:
        second.send_request(*c.attach_request(session_id))
        assert second.recv()[0] == c.EXEC_STARTED
        kind, fields = first.recv()
        assert kind == c.ERROR
        assert c.first(fields, 1) == CODE_UNAVAILABLE
        second.send_frame(c.field_bytes(4, c.field_varint(2, 9), always=True))
        result = c.collect(second)
    first.close()
    assert result.status == 137


def test_pty_resize_needs_tty(agent):
    with c.Connection(agent.addr) as conn:
        conn.send_request(*c.exec_request([b"sleep", b"5"]))
        assert conn.recv()[0] == c.EXEC_STARTED
        conn.send_frame(c.resize_frame(10, 10))
        kind, fields = conn.recv()
    assert kind == c.ERROR
    assert c.first(fields, 1) == CODE_INVALID_ARGUMENT


def test_pty_eof_after_partial_line(agent):
    with c.Connection(agent.addr) as conn:
        conn.send_request(*c.exec_request([b"cat"], tty=True, stdin=True))
        assert conn.recv()[0] == c.EXEC_STARTED
        conn.send_frame(c.stdin_frame(b"partial"))
        conn.send_frame(c.stdin_eof_frame())
        result = c.collect(conn)
    assert b"partial" in result.stdout
    assert result.status == 0


def test_env_from_image_and_clear(start_agent, short_dir):
    import json
    import os
    path = os.path.join(short_dir, "config.json")
    with open(path, "w") as f:
        json.dump({"process": {"env": ["IMAGE_VAR=from-image", "PATH=/usr/bin:/bin"]}}, f)
    agent = start_agent(args=["--config", path])
    result = c.run(agent.addr, [b"sh", b"-c", b"echo $IMAGE_VAR:$PATH"])
    assert result.stdout == b"from-image:/usr/bin:/bin\n"
    result = c.run(agent.addr, [b"/usr/bin/env"], clear_env=True)
    assert b"IMAGE_VAR" not in result.stdout
    assert b"HOME=/root" in result.stdout


def test_unprivileged_agent_runs_as_itself(ember_bin, short_dir):
    """An agent that is not root runs sessions as its own user and reports
    a request for another user as permission denied."""
    import os
    import subprocess
    os.chmod(short_dir, 0o777)
    sock = os.path.join(short_dir, "nobody.sock")
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             ember_bin("ember-agent"), "--listen", f"unix:{sock}",
                             "--allow-uid", "0"], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(sock))
        result = c.run(f"unix:{sock}", [b"id", b"-u"])
        assert result.stdout == b"65534\n"
        with pytest.raises(c.AgentError) as info:
            c.run(f"unix:{sock}", [b"id"], user="root")
        assert info.value.code == 3
        assert "user 'root'" in info.value.message
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_shell_runs_login_shell(start_agent):
    """A shell request runs root's login shell from /etc/passwd on a PTY.
    The fallback to /bin/sh is in test_core_init.py, whose root has a
    passwd file the test writes."""
    result = c.run(start_agent().addr, [], shell=True, tty=True, stdin_data=b"echo $0; exit 7\n")
    assert result.status == 7
    with open("/etc/passwd") as f:
        root_shell = next(line for line in f if line.startswith("root:")).strip().split(":")[6]
    assert root_shell.rsplit("/", 1)[1].encode() in result.stdout
