"""The copy worker takes over the client's connection (conn_hand_over in
agent/conn.c): the agent stopped in the middle of a copy, requests on other
connections while a copy runs, and descriptors, workers and zombies that
copies must not leave behind."""
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

from agent_harness import child_pids

# Size of the file the interrupted copies move: large enough that the test
# finds the copy under way well before it ends.
BIG_SIZE = 512 << 20
# Bytes a worker has read before the test calls its copy under way.
UNDER_WAY_BYTES = 16 << 20
# The agent's grace period after SIGTERM (AGENT_STOP_GRACE_MS) plus the time
# it gives a worker to exit before killing it (COPY_WORKER_STOP_MS), in s.
AGENT_STOP_GRACE_S = 0.5
COPY_WORKER_STOP_S = 2.0
SEQUENTIAL_COPIES = 20


@pytest.fixture(scope="module")
def big_tmpfs():
    """A tmpfs that this module mounts itself, with a BIG_SIZE file of random
    data named "big". Unmounted afterwards."""
    root = tempfile.mkdtemp(prefix="ember-handover-", dir="/var/tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1600m,mode=0755", "tmpfs", root],
                   check=True)
    block = os.urandom(1 << 20)
    with open(os.path.join(root, "big"), "wb") as f:
        for _ in range(BIG_SIZE >> 20):
            f.write(block)
    yield root
    subprocess.run(["umount", root], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scratch(big_tmpfs):
    """An empty directory on big_tmpfs for one test, removed afterwards."""
    path = tempfile.mkdtemp(prefix="t-", dir=big_tmpfs)
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def emberctl(ember_bin, agent, *args, **kwargs):
    return subprocess.run([ember_bin("emberctl"), "-c", agent.addr, *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, **kwargs)


def worker_pids(agent):
    return child_pids(agent.proc.pid)


def process_state(pid):
    """The state letter of pid (R, S, D, T, Z...), or None once it is reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def io_bytes(pid, field):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            name, value = line.split(":")
            if name == field:
                return int(value)
    raise AssertionError(f"no {field} in /proc/{pid}/io")


def wait_copy_under_way(agent, timeout=10):
    """Waits until a worker has read UNDER_WAY_BYTES (of the socket for a
    copy-in, of the file for a copy-out); returns the workers' PIDs."""
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(agent)
        if pids and io_bytes(pids[0], "rchar") >= UNDER_WAY_BYTES:
            return pids
        assert time.monotonic() < deadline, f"no copy under way: workers {pids}"
        time.sleep(0.005)


def wait_no_workers(agent, timeout=10):
    deadline = time.monotonic() + timeout
    while worker_pids(agent):
        assert time.monotonic() < deadline, f"copy workers left: {worker_pids(agent)}"
        time.sleep(0.02)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def used_bytes(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def stop_agent_during_copy(agent, client):
    """Stops the agent with SIGTERM while client's copy is under way; returns
    the workers' PIDs. The client is held stopped meanwhile, so the copy is
    still in the middle when the agent's grace period ends instead of
    finishing inside it."""
    workers = wait_copy_under_way(agent)
    client.send_signal(signal.SIGSTOP)
    try:
        agent.proc.send_signal(signal.SIGTERM)
        agent.proc.wait(timeout=AGENT_STOP_GRACE_S + COPY_WORKER_STOP_S + 10)
    finally:
        client.send_signal(signal.SIGCONT)
    return workers


@pytest.mark.parametrize("direction", ["in", "out"])
def test_agent_stopped_during_copy(ember_bin, agent, big_tmpfs, scratch, direction):
    dest = os.path.join(scratch, "dest")
    os.mkdir(dest)
    used_before = used_bytes(big_tmpfs)
    source = os.path.join(big_tmpfs, "big")
    paths = [source, ":" + dest] if direction == "in" else [":" + source, dest]
    client = subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp", *paths],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        workers = stop_agent_during_copy(agent, client)
        _, stderr = client.communicate(timeout=30)
    finally:
        client.kill()
        client.wait()

    assert agent.proc.returncode == 0, agent.log()
    # The agent reaped its workers before it exited.
    for pid in workers:
        assert process_state(pid) is None, f"worker {pid} is left ({process_state(pid)})"
    assert client.returncode != 0
    assert b"the agent closed the connection" in stderr, stderr
    # No partial or temporary file is left on either side, and no unnamed
    # temporary file uses space.
    assert os.listdir(dest) == []
    assert used_bytes(big_tmpfs) - used_before < (1 << 20)


def leave_stopped_worker(ember_bin, agent, big_tmpfs, dest):
    """Starts a copy-in to the new directory dest, stops its worker with
    SIGSTOP, then kills the client; returns the workers' PIDs."""
    os.mkdir(dest)
    client = subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp",
                               os.path.join(big_tmpfs, "big"), ":" + dest],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = wait_copy_under_way(agent)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    client.kill()
    client.wait()
    return workers


def test_client_gone_while_worker_stopped(ember_bin, agent, big_tmpfs, scratch):
    """The client leaves while its worker cannot run: the agent must not spin
    on the hung-up connection, and once stopped it kills the worker that
    cannot notice the socket was shut down."""
    dest = os.path.join(scratch, "dest")
    workers = leave_stopped_worker(ember_bin, agent, big_tmpfs, dest)
    try:
        cpu_before = cpu_seconds(agent.proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(agent.proc.pid) - cpu_before < 0.2

        started = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        agent.proc.wait(timeout=AGENT_STOP_GRACE_S + COPY_WORKER_STOP_S + 10)
        assert time.monotonic() - started < AGENT_STOP_GRACE_S + COPY_WORKER_STOP_S + 2
    finally:
        for pid in workers:
            if process_state(pid) is not None:
                os.kill(pid, signal.SIGCONT)

    for pid in workers:
        assert process_state(pid) is None, f"worker {pid} is left ({process_state(pid)})"
    assert "killing it" in agent.log()
    assert os.listdir(dest) == []


def test_worker_killed_after_client_leaves(ember_bin, agent, big_tmpfs, scratch):
    """A worker that cannot notice its client left (here: stopped) is killed
    COPY_WORKER_STOP_MS after the hang-up, while the agent keeps running."""
    dest = os.path.join(scratch, "dest")
    workers = leave_stopped_worker(ember_bin, agent, big_tmpfs, dest)
    try:
        deadline = time.monotonic() + COPY_WORKER_STOP_S + 5
        while time.monotonic() < deadline and any(process_state(pid) for pid in workers):
            time.sleep(0.1)
    finally:
        for pid in workers:
            if process_state(pid) is not None:
                os.kill(pid, signal.SIGCONT)

    for pid in workers:
        assert process_state(pid) is None, f"worker {pid} is left ({process_state(pid)})"
    assert agent.proc.poll() is None
    assert "after the client left; killing it" in agent.log()
    assert os.listdir(dest) == []


def tar_of(name, content):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_agent_serves_others_during_copy(ember_bin, agent, scratch):
    """A copy-in streamed from a tar archive on stdin stays in the middle
    while the test holds back the archive's second half."""
    dest = os.path.join(scratch, "dest")
    os.mkdir(dest)
    content = os.urandom(32 << 20)
    archive = tar_of("data", content)
    client = subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp", "-", ":" + dest],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        client.stdin.write(archive[:len(archive) // 2])
        client.stdin.flush()
        workers = wait_copy_under_way(agent)

        info = emberctl(ember_bin, agent, "info")
        assert info.returncode == 0, info.stderr
        assert b"agent version" in info.stdout
        exec_true = emberctl(ember_bin, agent, "exec", "--", "true")
        assert exec_true.returncode == 0, exec_true.stderr
        ping = emberctl(ember_bin, agent, "ping")
        assert ping.returncode == 0, ping.stderr
        # The copy was still in the middle while they were served.
        assert worker_pids(agent) == workers
        assert process_state(workers[0]) not in (None, "Z")

        client.stdin.write(archive[len(archive) // 2:])
        client.stdin.close()
        assert client.wait(timeout=30) == 0, client.stderr.read()
    finally:
        client.kill()
        client.wait()

    with open(os.path.join(dest, "data"), "rb") as f:
        assert f.read() == content
    wait_no_workers(agent)


def test_sequential_copies_leak_nothing(ember_bin, agent, scratch):
    source = os.path.join(scratch, "small")
    with open(source, "wb") as f:
        f.write(os.urandom(64 << 10))
    guest = os.path.join(scratch, "guest")
    host = os.path.join(scratch, "host")
    os.mkdir(guest)
    os.mkdir(host)
    baseline = open_fds(agent.proc.pid)

    for i in range(SEQUENTIAL_COPIES):
        if i % 2 == 0:
            result = emberctl(ember_bin, agent, "cp", source, f":{guest}/in-{i}")
        else:
            result = emberctl(ember_bin, agent, "cp", f":{source}", f"{host}/out-{i}")
        assert result.returncode == 0, (i, result.stderr)

    assert len(os.listdir(guest)) + len(os.listdir(host)) == SEQUENTIAL_COPIES
    # Every worker was reaped: no child is left, zombie or not.
    wait_no_workers(agent)
    # The agent closes each connection once the client's EOF arrives.
    deadline = time.monotonic() + 5
    while open_fds(agent.proc.pid) != baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_fds(agent.proc.pid) == baseline, os.listdir(f"/proc/{agent.proc.pid}/fd")
