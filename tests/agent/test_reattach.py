"""Sessions outlive connections. A cut connection followed by attach loses
no byte that the ring still keeps. A session that no client reattaches is
killed after the grace period, and a detached one survives without a client."""
import base64
import os
import re
import subprocess
import time

import pytest

import pyember
from proxy import Proxy

HINT = re.compile(rb"attach --stdout-offset (\d+) --stderr-offset (\d+) (\S+)'")


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_cut_mid_output_then_attach(start_agent, emberctl, short_dir, transport):
    token = "attach-token" if transport == "tcp" else None
    agent = start_agent(tcp=transport == "tcp", token=token)
    global_args = ["--token-file", agent.token_path] if token else []
    listen = os.path.join(short_dir, "proxy.sock") if transport == "unix" else None
    raw = os.path.join(short_dir, "raw")
    # 2 MiB of random bytes in base64 (2.7 MB) fits the agent's 4 MiB ring.
    command = (f"head -c 2M /dev/urandom > {raw}; base64 {raw}; base64 {raw} >&2; "
               f"sleep 1; echo done")
    with Proxy(agent.addr, listen) as proxy:
        proc = subprocess.Popen([emberctl, "-c", proxy.addr, *global_args, "exec", "--",
                                 "sh", "-c", command],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.read1(65536)
        while len(first) < 256 * 1024:
            first += proc.stdout.read1(65536)
        proxy.cut()
        rest, err_first = proc.communicate(timeout=30)
        first += rest
    assert proc.returncode == 123, err_first
    match = HINT.search(err_first)
    assert match, err_first
    stdout_offset, stderr_offset, session = int(match[1]), int(match[2]), match[3].decode()
    assert stdout_offset == len(first)
    assert stdout_offset > 0

    r = subprocess.run([emberctl, "-c", agent.addr, *global_args, "attach", "--stdout-offset",
                        str(stdout_offset), "--stderr-offset", str(stderr_offset), session],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(raw, "rb") as f:
        encoded = base64.encodebytes(f.read())
    assert first + r.stdout == encoded + b"done\n"
    assert err_first[:stderr_offset] + r.stderr == encoded


def test_attach_from_zero_replays_ring(agent, ctl):
    r = ctl(agent.addr, "exec", "--detach", "--", "sh", "-c", "seq 1 1000; seq 1 5 >&2")
    session = r.stdout.decode().strip()
    r = ctl(agent.addr, "attach", session, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(b"%d\n" % i for i in range(1, 1001))
    assert r.stderr == b"1\n2\n3\n4\n5\n"


def test_second_attach_replaces_stale_connection(agent):
    first = pyember.Client(agent.addr)
    started = first.start_exec([b"sh", b"-c", b"sleep 1; echo late"])
    with pyember.Client(agent.addr) as second:
        second.start_attach(started.session_id)
        result = second.wait_exit()
    assert result.stdout == b"late\n"
    with pytest.raises((pyember.AgentError, pyember.ProtocolError)):
        first.wait_exit()
    first.close()


def test_unattached_session_killed_after_grace(start_agent):
    agent = start_agent(args=["--grace", "1"])
    with pyember.Client(agent.addr) as client:
        started = client.start_exec([b"sleep", b"60"])
    pid = started.pid
    assert pid > 0
    assert os.path.exists(f"/proc/{pid}")
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), "the session outlived its grace period"
    with pytest.raises(pyember.AgentError):
        with pyember.Client(agent.addr) as client:
            client.start_attach(started.session_id)


def test_detached_session_survives_grace(start_agent, ctl):
    agent = start_agent(args=["--grace", "1"])
    r = ctl(agent.addr, "exec", "--detach", "--", "sh", "-c", "sleep 2.5; echo late")
    assert r.returncode == 0, r.stderr
    session = r.stdout.decode().strip()
    time.sleep(1.5)
    assert session in ctl(agent.addr, "ps").stdout.decode()
    r = ctl(agent.addr, "attach", session, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"late\n"


def test_exec_reattach_survives_cuts(agent, emberctl, short_dir):
    raw = os.path.join(short_dir, "raw")
    command = f"head -c 2M /dev/urandom > {raw}; base64 {raw}; sleep 1; base64 {raw} >&2"
    with Proxy(agent.addr, os.path.join(short_dir, "proxy.sock")) as proxy:
        proc = subprocess.Popen([emberctl, "-c", proxy.addr, "exec", "--reattach", "--",
                                 "sh", "-c", command],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = proc.stdout.read1(65536)
        for cut_at in (256 * 1024, 1024 * 1024):
            while len(out) < cut_at:
                out += proc.stdout.read1(65536)
            proxy.cut()
        rest, err = proc.communicate(timeout=60)
        out += rest
    assert proc.returncode == 0, err
    with open(raw, "rb") as f:
        encoded = base64.encodebytes(f.read())
    assert out == encoded
    assert err.count(b"reattaching to session") == 2, err
    assert err.endswith(encoded)
