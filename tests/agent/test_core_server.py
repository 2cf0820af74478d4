"""ember-agent's server core driven with the small wire client in
tests/lib/core_client.py: start-up checks, listeners, peer checks, errors
and limits."""
import json
import os
import socket
import stat
import struct
import subprocess
import time

import core_client as c
import pytest

CODE_INVALID_ARGUMENT = 1
CODE_NOT_FOUND = 2
CODE_PERMISSION_DENIED = 3
CODE_RESOURCE_EXHAUSTED = 5
CODE_FAILED_PRECONDITION = 6
CODE_UNSUPPORTED = 8
CODE_UNAUTHENTICATED = 11


def run_agent(ember_bin, *args, timeout=10):
    return subprocess.run([ember_bin("ember-agent"), *args], capture_output=True, text=True,
                          timeout=timeout)


def expect_error(addr, op, body=b"", token=b""):
    with c.Connection(addr, token=token) as conn:
        with pytest.raises(c.AgentError) as info:
            conn.unary(op, body)
        kind, _ = conn.recv()
        assert kind is None, "the connection stays open after an Error"
    return info.value


def test_no_listener_is_usage_error(ember_bin):
    result = run_agent(ember_bin)
    assert result.returncode == 2
    assert "no listener" in result.stderr


@pytest.mark.parametrize("address", ["vsock:0", "unix:relative", "tcp:localhost:1",
                                     "udp:127.0.0.1:9"])
def test_bad_listen_address_is_usage_error(ember_bin, address):
    result = run_agent(ember_bin, "--listen", address)
    assert result.returncode == 2
    assert f"'{address}'" in result.stderr


def test_tcp_listener_needs_token_file(ember_bin):
    result = run_agent(ember_bin, "--listen", "tcp:127.0.0.1:1")
    assert result.returncode == 2
    assert "--token-file" in result.stderr


def test_config_unknown_key_rejected(ember_bin, short_dir):
    path = os.path.join(short_dir, "config.json")
    with open(path, "w") as f:
        json.dump({"agent": {"listen": [f"unix:{short_dir}/s"], "max_sesions": 3}}, f)
    result = run_agent(ember_bin, "--config", path)
    assert result.returncode == 2
    assert "agent.max_sesions" in result.stderr


def test_config_syntax_error_has_line_and_column(ember_bin, short_dir):
    path = os.path.join(short_dir, "config.json")
    with open(path, "w") as f:
        f.write('{\n  "agent": {\n    "grace_s": 5,,\n  }\n}\n')
    result = run_agent(ember_bin, "--config", path)
    assert result.returncode == 2
    assert "line 3" in result.stderr
    assert "column" in result.stderr


def test_config_listen_and_limits_apply(ember_bin, short_dir):
    sock = os.path.join(short_dir, "cfg.sock")
    path = os.path.join(short_dir, "config.json")
    with open(path, "w") as f:
        json.dump({"process": {"env": ["IMAGE_VAR=from-image"]},
                   "agent": {"listen": [f"unix:{sock}"], "max_sessions": 1, "grace_s": 5,
                             "path": "/sbin/ember-agent", "args": []}}, f)
    proc = subprocess.Popen([ember_bin("ember-agent"), "--config", path],
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_socket(sock)
        addr = f"unix:{sock}"
        with c.Connection(addr) as conn:
            conn.send_request(*c.exec_request([b"sleep", b"5"]))
            assert conn.recv()[0] == c.EXEC_STARTED
            error = expect_error(addr, *c.exec_request([b"true"]))
            assert error.code == CODE_RESOURCE_EXHAUSTED
            assert "max_sessions" in error.message
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for_socket(path, timeout=10.0):
    """Waits until the agent replies to a ping on path. The socket file exists
    from bind(2) on, a moment before the agent listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with c.Connection(f"unix:{path}", timeout=2) as conn:
                conn.unary(c.OP_PING)
            return
        except (OSError, ValueError):
            assert time.monotonic() < deadline, f"no agent answered on {path}"
            time.sleep(0.01)


def test_unix_socket_mode_0600(agent):
    assert stat.S_IMODE(os.stat(agent.socket_path).st_mode) == 0o600


def test_stale_socket_file_replaced(start_agent):
    first = start_agent(name="x")
    first.proc.kill()
    first.proc.wait()
    assert os.path.exists(first.socket_path)
    second = start_agent(name="x")
    # The harness finds the stale file at once, so wait for the new listener.
    deadline = time.monotonic() + 10
    while True:
        try:
            with c.Connection(second.addr) as conn:
                assert conn.unary(c.OP_PING)[0] == c.PONG
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, second.log()
            time.sleep(0.01)


def test_socket_removed_on_sigterm(start_agent):
    agent = start_agent()
    agent.stop()
    assert agent.proc.returncode == 0
    assert not os.path.exists(agent.socket_path)


def test_wrong_uid_rejected_before_request(start_agent):
    agent = start_agent(args=["--allow-uid", "4242"])
    with c.Connection(agent.addr) as conn:
        kind, fields = conn.recv()
        assert kind == c.ERROR
        assert c.first(fields, 1) == CODE_PERMISSION_DENIED
        assert b"uid 0" in c.first(fields, 3)
    assert "rejected unix uid 0" in agent.log()


def test_tcp_token_checked(start_agent):
    agent = start_agent(tcp=True, token="s3cret-token\n")
    assert expect_error(agent.addr, c.OP_PING).code == CODE_UNAUTHENTICATED
    assert expect_error(agent.addr, c.OP_PING, token=b"s3cret-tokeX").code == CODE_UNAUTHENTICATED
    assert expect_error(agent.addr, c.OP_PING, token=b"s3cret-token-longer").code == CODE_UNAUTHENTICATED
    with c.Connection(agent.addr, token=b"s3cret-token") as conn:
        assert conn.unary(c.OP_PING)[0] == c.PONG
    assert "s3cret" not in agent.log()


def test_version_range_enforced(agent):
    for version in (0, 2, 1000):
        with c.Connection(agent.addr) as conn:
            conn.send_request(c.OP_PING, version=version)
            kind, fields = conn.recv()
            assert kind == c.ERROR
            assert c.first(fields, 1) == CODE_FAILED_PRECONDITION
            assert f"version {version}".encode() in c.first(fields, 3)


def test_unknown_operation_unsupported(agent):
    error = expect_error(agent.addr, 99)
    assert error.code == CODE_UNSUPPORTED


def test_init_operations_unsupported_standalone(agent):
    for op in (c.OP_LOGS, c.OP_WAIT, c.OP_SHUTDOWN, c.OP_START):
        error = expect_error(agent.addr, op)
        assert error.code == CODE_UNSUPPORTED
        assert "standalone" in error.message


def test_oversized_frame_then_agent_serves_others(agent):
    with c.Connection(agent.addr) as conn:
        conn.send_raw(struct.pack(">I", c.FRAME_MAX + 1))
        kind, fields = conn.recv()
        assert kind == c.ERROR
        assert c.first(fields, 1) == CODE_RESOURCE_EXHAUSTED
        assert b"EMBER_FRAME_MAX" in c.first(fields, 3)
    with c.Connection(agent.addr) as conn:
        assert conn.unary(c.OP_PING)[0] == c.PONG


def test_argv_bytes_limit(agent):
    error = expect_error(agent.addr, *c.exec_request([b"echo", b"x" * 600000]))
    assert error.code == CODE_RESOURCE_EXHAUSTED
    assert "EXEC_ARG_BYTES_MAX" in error.message


def test_nul_in_argv_rejected(agent):
    error = expect_error(agent.addr, *c.exec_request([b"echo", b"a\0b"]))
    assert error.code == CODE_INVALID_ARGUMENT
    assert "argv[1]" in error.message


def test_exec_errors_name_the_value(agent, short_dir):
    error = expect_error(agent.addr, *c.exec_request([b"no-such-program-x"]))
    assert error.code == CODE_NOT_FOUND
    assert "'no-such-program-x'" in error.message
    error = expect_error(agent.addr, *c.exec_request([b"true"], cwd=b"/no/such/dir"))
    assert error.code == CODE_NOT_FOUND
    assert "'/no/such/dir'" in error.message
    error = expect_error(agent.addr, *c.exec_request([b"true"], user="nosuchuser"))
    assert error.code == CODE_NOT_FOUND
    assert "'nosuchuser'" in error.message
    plain = os.path.join(short_dir, "plain.txt")
    with open(plain, "w") as f:
        f.write("not a program\n")
    os.chmod(plain, 0o644)
    error = expect_error(agent.addr, *c.exec_request([plain.encode()]))
    assert error.code == CODE_PERMISSION_DENIED
    assert error.errno == 13
    os.chmod(plain, 0o755)
    error = expect_error(agent.addr, *c.exec_request([plain.encode()]))
    assert error.code == CODE_INVALID_ARGUMENT
    assert "Exec format error" in error.message


def test_info_lists_core_operations(agent):
    with c.Connection(agent.addr) as conn:
        kind, fields = conn.unary(c.OP_INFO)
    assert kind == c.INFO
    operations = {op.decode() for op in fields[10]}
    assert {"ping", "info", "exec", "attach", "signal", "list"} <= operations
    assert "wait" not in operations
    assert c.first(fields, 2) == 1
    assert c.first(fields, 11) == 0
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert c.first(fields, 4).decode() == f.read().strip()


def test_peer_closing_early_leaves_agent_serving(agent):
    for _ in range(20):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(agent.socket_path)
            s.send(b"\x00\x00")
    with c.Connection(agent.addr) as conn:
        assert conn.unary(c.OP_PING)[0] == c.PONG


def test_out_of_descriptors_recovers(ember_bin, short_dir):
    """With its descriptors used up the agent pauses accepting instead of
    spinning, and serves again once clients leave."""
    sock = os.path.join(short_dir, "fd.sock")
    log_path = os.path.join(short_dir, "fd.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["sh", "-c", 'ulimit -n 24 && exec "$@"', "sh",
                                 ember_bin("ember-agent"), "--listen", f"unix:{sock}"],
                                stdout=log, stderr=log)
    try:
        wait_for_socket(sock)
        clients = []
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            clients.append(s)
        time.sleep(0.5)
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_ticks = int(fields[11]) + int(fields[12])
        assert cpu_ticks < 20, "the agent spins on a listener it cannot accept from"
        for s in clients:
            s.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with c.Connection(f"unix:{sock}", timeout=2) as conn:
                    assert conn.unary(c.OP_PING)[0] == c.PONG
                break
            except (OSError, ValueError):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with open(log_path) as f:
            assert "retrying in 100 ms" in f.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_silent_client_timed_out(agent):
    """A client that sends no Request gets CODE_TIMED_OUT after 10 s
    (CONN_REQUEST_TIMEOUT_MS) and its connection is closed."""
    start = time.monotonic()
    with c.Connection(agent.addr, timeout=20) as conn:
        kind, fields = conn.recv()
        elapsed = time.monotonic() - start
        assert kind == c.ERROR
        assert c.first(fields, 1) == 10
        assert conn.recv()[0] is None
    assert 9.5 < elapsed < 12


def test_connection_limit_enforced(agent):
    """AGENT_CONNECTIONS_MAX (1024) open connections; the next one gets
    CODE_RESOURCE_EXHAUSTED while the others stay served."""
    clients = []
    try:
        for _ in range(1024):
            s = socket.socket(socket.AF_UNIX)
            s.connect(agent.socket_path)
            clients.append(s)
        with c.Connection(agent.addr) as conn:
            kind, fields = conn.recv()
            assert kind == c.ERROR
            assert c.first(fields, 1) == CODE_RESOURCE_EXHAUSTED
            assert b"AGENT_CONNECTIONS_MAX" in c.first(fields, 3)
        clients.pop().close()
        time.sleep(0.2)
        with c.Connection(agent.addr) as conn:
            assert conn.unary(c.OP_PING)[0] == c.PONG
    finally:
        for s in clients:
            s.close()


def test_term_and_ttl_limits(agent):
    error = expect_error(agent.addr, *c.exec_request([b"true"], tty=True, term="x" * 65))
    assert error.code == CODE_INVALID_ARGUMENT
    assert "TERM" in error.message
    error = expect_error(agent.addr, *c.exec_request([b"true"], detach=True, ttl_s=604801))
    assert error.code == CODE_INVALID_ARGUMENT
    assert "604800" in error.message


def test_token_file_too_long(ember_bin, short_dir):
    path = os.path.join(short_dir, "token")
    with open(path, "w") as f:
        f.write("t" * 4097)
    result = run_agent(ember_bin, "--listen", "tcp:127.0.0.1:1", "--token-file", path)
    assert result.returncode == 1
    assert "longer than 4096 bytes" in result.stderr


def test_error_message_stays_utf8(agent):
    """Error messages quote peer bytes; invalid UTF-8 and control bytes are
    replaced so that strict proto3 decoders accept the string."""
    with c.Connection(agent.addr) as conn:
        conn.send_request(*c.exec_request([b"no-such-\xff\n-prog"]))
        kind, fields = conn.recv()
    assert kind == c.ERROR
    assert c.first(fields, 1) == CODE_NOT_FOUND
    message = c.first(fields, 3).decode("utf-8")
    assert "'no-such-??-prog'" in message


def test_random_frames_leave_agent_serving(start_agent):
    """Random bodies as Request and as ClientFrame after an exec: every one
    gets a reply or is dropped, and the agent keeps running."""
    import random
    # No grace period, so the abandoned sessions do not reach max_sessions.
    agent = start_agent(args=["--grace", "0"])
    rng = random.Random(1234)
    for i in range(200):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        with c.Connection(agent.addr, timeout=5) as conn:
            if i % 2:
                conn.send_request(*c.exec_request([b"sleep", b"5"], stdin=True))
                assert conn.recv()[0] == c.EXEC_STARTED
            conn.send_raw(c.frame(body))
            conn.sock.shutdown(socket.SHUT_WR)
            while conn.recv()[0] not in (None, c.ERROR, c.EXIT):
                pass
    assert agent.proc.poll() is None
    with c.Connection(agent.addr) as conn:
        assert conn.unary(c.OP_PING)[0] == c.PONG
