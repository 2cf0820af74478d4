"""The independent client (tests/lib/pyember.py, written from
proto/PROTOCOL.md) runs execs against the real agent."""
import pyember


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
