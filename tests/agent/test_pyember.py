"""The independent client (tests/lib/pyember.py, written from
proto/PROTOCOL.md) runs execs, info, list and copy_out against the real
agent."""
import errno
import hashlib
import os
import socket
import time

import pytest

import guest_build
import pyember

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_exec_streams_and_status(agent):
    result = pyember.run(agent.addr, ["sh", "-c", "printf out; printf err >&2; exit 5"])
    assert result.stdout == b"out"
    assert result.stderr == b"err"
    assert result.exit["code"] == 5
    assert result.exit["status"] == 5
    assert result.exit["stdout_bytes"] == 3
    assert len(result.session_id) > 0
    assert result.pid > 0


def test_exec_stdin_and_signal_status(agent):
    result = pyember.run(agent.addr, ["sh", "-c", "cat; kill -USR1 $$"], stdin=b"x" * 300000)
    assert result.stdout == b"x" * 300000
    assert result.exit["signal"] == 10
    assert result.exit["code"] == -1
    assert result.exit["status"] == 138


def test_exec_env_bytes(agent):
    result = pyember.run(agent.addr, ["/usr/bin/env", "-0"], env=[b"K=v\xffw"])
    assert b"K=v\xffw" in result.stdout.split(b"\0")


def test_signal_frame_reaches_process_group(agent):
    with pyember.Client(agent.addr) as client:
        client.start_exec([b"sh", b"-c", b"sleep 30 & wait"])
        client.send_signal(15, process_group=True)
        result = client.wait_exit()
    assert result.exit["status"] == 143


def test_ping_over_tcp_with_token(start_agent):
    agent = start_agent(tcp=True, token="py-token")
    with pyember.Client(agent.addr, token=b"py-token") as client:
        assert client.ping() == 1
    result = pyember.run(agent.addr, ["echo", "tcp"], token=b"py-token")
    assert result.stdout == b"tcp\n"


def test_info_decodes_every_field(agent):
    with pyember.Client(agent.addr) as client:
        info = client.info()
    assert info["protocol_version"] == pyember.PROTOCOL_VERSION
    assert info["protocol_min_version"] == 1
    assert info["agent_version"]
    assert info["kernel"] == os.uname().release
    assert info["arch"] == guest_build.guest_machine(ROOT)
    assert info["uptime_ms"] > 0
    assert len(info["boot_id"]) == 36
    # A standalone agent lists what it runs and leaves out the init operations.
    assert {"ping", "info", "exec", "list", "copy_in", "copy_out"} <= set(info["operations"])
    assert "logs" not in info["operations"]
    assert info["under_init"] is False
    assert info["frozen"] is False
    assert info["boot_timings"] == []


def test_list_shows_an_exited_detached_session(agent):
    with pyember.Client(agent.addr) as client:
        started = client.start_exec([b"sh", b"-c", b"exit 3"], detach=True)
    deadline = time.monotonic() + 10
    while True:
        with pyember.Client(agent.addr) as client:
            sessions = {s["session_id"]: s for s in client.list()}
        session = sessions[started.session_id]
        if not session["running"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert session["argv"] == [b"sh", b"-c", b"exit 3"]
    assert session["detached"]
    assert not session["attached"]
    assert not session["tty"]
    assert session["exit"]["status"] == 3
    assert session["pid"] == started.pid
    # Attaching collects the status; the session is then gone.
    with pyember.Client(agent.addr) as client:
        assert client.start_attach(started.session_id) is not None
        assert client.wait_exit().exit["status"] == 3
    with pyember.Client(agent.addr) as client:
        assert started.session_id not in [s["session_id"] for s in client.list()]


def test_copy_out_of_one_sparse_file(agent, tmp_path):
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.write(b"head")
        f.seek(3 * 1024 * 1024)
        f.write(b"tail" * 100000)
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    content = path.read_bytes()
    with pyember.Client(agent.addr) as client:
        entries, result = client.copy_out(str(path).encode())
    assert len(entries) == 1
    entry = entries[0]
    assert entry["name"] == b""
    assert entry["type"] == pyember.COPY_FILE
    assert entry["mode"] == 0o640
    assert entry["size"] == len(content) == entry["final_size"]
    assert (entry["mtime_sec"], entry["mtime_nsec"]) == (1_600_000_000, 123_456_789)
    assert bytes(entry["data"]) == content
    assert entry["sha256"] == hashlib.sha256(content).digest()
    assert result == {"entries": 1, "bytes": len(content), "warnings": []}


def test_copy_out_missing_file_path(agent, tmp_path):
    missing = str(tmp_path / "nosuch").encode()
    with pyember.Client(agent.addr) as client:
        with pytest.raises(pyember.AgentError) as error:
            client.copy_out(missing)
    assert error.value.code == 2  # CODE_NOT_FOUND
    assert error.value.errno_value == errno.ENOENT
    assert "nosuch" in error.value.message
    assert error.value.path.endswith("nosuch")


def test_copy_error_non_utf8_name(agent, tmp_path):
    missing = str(tmp_path).encode() + b"/no\xffsuch"
    with pyember.Client(agent.addr) as client:
        client.send_request(pyember.OP_COPY_OUT, pyember.copy_out_request(missing))
        length = int.from_bytes(client.sock.recv(4, socket.MSG_WAITALL), "big")
        body = client.sock.recv(length, socket.MSG_WAITALL)
    kind, fields = pyember.decode_agent_frame(body)
    assert kind == "error"
    # Strict decoding, as a proto3 library does for string fields.
    assert "no?such" in pyember.get_bytes(fields, 3).decode("utf-8")
    assert pyember.get_bytes(fields, 4).decode("utf-8").endswith("/no?such")
