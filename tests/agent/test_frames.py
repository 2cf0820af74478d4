"""Malformed, truncated and oversized frames and a wrong protocol version get
clean errors, and the agent keeps serving everyone else."""
import socket
import struct
import time

import pytest

import pyember

CODE_INVALID_ARGUMENT, CODE_RESOURCE_EXHAUSTED = 1, 5
CODE_FAILED_PRECONDITION, CODE_UNSUPPORTED = 6, 8


def error_of(client):
    """Reads frames until the agent's Error; returns it."""
    with pytest.raises(pyember.AgentError) as caught:
        while client.recv_frame() is not None:
            pass
    return caught.value


def assert_closed(client):
    client.sock.settimeout(5)
    assert client.sock.recv(1) == b""


def assert_serving(agent):
    with pyember.Client(agent.addr) as client:
        assert client.ping() == 1
    assert pyember.run(agent.addr, ["echo", "still here"]).stdout == b"still here\n"


def test_body_that_is_not_a_request(agent):
    with pyember.Client(agent.addr) as client:
        client.send_raw(pyember.frame(b"\xff\xff\xff\xff"))
        error = error_of(client)
        assert error.code == CODE_INVALID_ARGUMENT
        assert_closed(client)
    assert_serving(agent)


def test_oversized_frame_rejected_before_reading(agent):
    with pyember.Client(agent.addr) as client:
        client.send_raw(struct.pack(">I", pyember.FRAME_MAX + 1))
        error = error_of(client)
        assert error.code == CODE_RESOURCE_EXHAUSTED
        assert str(pyember.FRAME_MAX) in error.message or "1 MiB" in error.message \
            or "limit" in error.message
        assert_closed(client)
    assert_serving(agent)


def test_truncated_frame_then_disconnect(agent):
    with pyember.Client(agent.addr) as client:
        client.send_raw(struct.pack(">I", 100) + b"\x08\x01")
    with pyember.Client(agent.addr) as client:
        client.send_raw(b"\x00\x00")
    assert_serving(agent)


def test_wrong_protocol_version(agent):
    with pyember.Client(agent.addr) as client:
        client.send_request(pyember.OP_PING, b"", version=99)
        error = error_of(client)
        assert error.code == CODE_FAILED_PRECONDITION
        assert "99" in error.message
    assert_serving(agent)


def test_request_without_operation(agent):
    with pyember.Client(agent.addr) as client:
        client.send_raw(pyember.frame(pyember.field_varint(1, 1)))
        assert error_of(client).code == CODE_UNSUPPORTED
    assert_serving(agent)


def test_stdin_frame_without_stdin_requested(agent):
    with pyember.Client(agent.addr) as client:
        client.send_request(pyember.OP_EXEC, pyember.exec_request([b"sleep", b"5"]))
        client.recv_frame()
        client.send_stdin(b"not expected")
        assert error_of(client).code == CODE_INVALID_ARGUMENT
    assert_serving(agent)


def test_too_many_argv_entries(agent):
    argv = [b"true"] + [b"x"] * 5000
    with pyember.Client(agent.addr) as client:
        client.send_request(pyember.OP_EXEC, pyember.exec_request(argv))
        error = error_of(client)
        assert error.code == CODE_RESOURCE_EXHAUSTED
    assert_serving(agent)


def test_env_entry_without_equals(agent):
    with pyember.Client(agent.addr) as client:
        client.send_request(pyember.OP_EXEC, pyember.exec_request([b"true"], env=[b"NOEQUALS"]))
        error = error_of(client)
        assert error.code == CODE_INVALID_ARGUMENT
    assert_serving(agent)


def test_silent_client_does_not_block_others(agent):
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(agent.addr[5:])
    start = time.monotonic()
    assert_serving(agent)
    assert time.monotonic() - start < 2
    idle.close()
