"""The limit on copy workers running at once (max_copies, --max-copies).
A copy beyond it is rejected with CODE_RESOURCE_EXHAUSTED before a worker
starts. Each way a worker ends gives its slot back: it finishes, its client
hangs up, it is killed, or the agent stops."""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from agent_harness import Agent, child_pids
from copy_wire import (A_ERROR, A_PROGRESS, A_RESULT, C_DATA, C_END, C_ENTRY, C_FILE_END,
                       copy_in_request, data, entry, file_end, wrap)
from core_client import Connection, first, frame

# The agent's default max_copies (AGENT_DEFAULT_MAX_COPIES) and the largest
# value --max-copies accepts (AGENT_CONNECTIONS_MAX).
DEFAULT_MAX_COPIES = 16
MAX_COPIES_LIMIT = 1024
CODE_RESOURCE_EXHAUSTED = 5
EXIT_USAGE = 2
# emberctl's exit code for an Error frame from the agent.
EXIT_REMOTE = 125
# How long the agent waits after a client hang-up before it kills a worker
# that did not exit (COPY_WORKER_STOP_MS), in seconds.
COPY_WORKER_STOP_S = 2.0
HELD_CONTENT = b"held copy\n"


def limit_message(running, limit):
    return (f"too many copies: {running} already running and the limit is {limit} (max_copies); "
            "wait for one to finish")


@pytest.fixture
def start_agent(ember_bin):
    """Starts ember-agents with extra arguments, each on its own Unix socket,
    and stops them all afterwards."""
    started = []

    def start(args=()):
        sock_dir = tempfile.mkdtemp(prefix="ember-cl-", dir="/tmp")
        handle = Agent(ember_bin("ember-agent"), sock_dir, args=args)
        started.append((handle, sock_dir))
        return handle.start()

    yield start
    for handle, sock_dir in started:
        handle.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


def worker_pids(agent):
    return child_pids(agent.proc.pid)


def wait_workers(agent, count, timeout=10):
    """Waits until exactly count copy workers run and returns their PIDs."""
    deadline = time.monotonic() + timeout
    while len(worker_pids(agent)) != count:
        assert time.monotonic() < deadline, f"expected {count} workers: {worker_pids(agent)}"
        time.sleep(0.01)
    return worker_pids(agent)


def descriptors(agent):
    fd_dir = f"/proc/{agent.proc.pid}/fd"
    links = {}
    for fd in os.listdir(fd_dir):
        try:
            links[fd] = os.readlink(os.path.join(fd_dir, fd))
        except FileNotFoundError:
            pass  # closed meanwhile
    return links


def wait_no_connections(agent, timeout=5):
    """Waits until the agent's only socket is its listener and it has no
    pidfd left. Connections that got their final frame close once the
    client's EOF arrives."""
    deadline = time.monotonic() + timeout
    while True:
        links = descriptors(agent).values()
        sockets = [link for link in links if link.startswith("socket:")]
        pidfds = [link for link in links if link == "anon_inode:[pidfd]"]
        if len(sockets) == 1 and not pidfds:
            return
        assert time.monotonic() < deadline, (descriptors(agent), agent.log())
        time.sleep(0.02)


class HeldCopy:
    """A copy_in that sent its request and a FILE entry but no data, so its
    worker waits for the data and keeps its slot until finish() or close()."""

    def __init__(self, agent, dest):
        self.dest = dest
        self.conn = Connection(agent.addr, timeout=30)
        self.conn.send_raw(frame(copy_in_request(dest)))
        self.conn.send_raw(wrap(C_ENTRY, entry(b"", size=len(HELD_CONTENT))))

    def finish(self):
        """Sends the data and the end of the copy, and returns the final
        frame's (kind, fields)."""
        self.conn.send_raw(wrap(C_DATA, data(0, HELD_CONTENT))
                           + wrap(C_FILE_END, file_end(HELD_CONTENT)) + wrap(C_END, b""))
        while True:
            kind, fields = self.conn.recv()
            if kind != A_PROGRESS:
                return kind, fields

    def close(self):
        self.conn.close()


@contextlib.contextmanager
def hold_copies(agent, work_dir, prefix, count):
    """Starts count HeldCopy copies to PREFIX-0, PREFIX-1 and so on, each once
    the one before has its worker, and closes them all, including any the
    caller appends to the list, on exit."""
    copies = []
    try:
        for i in range(count):
            copies.append(HeldCopy(agent, os.path.join(work_dir, f"{prefix}-{i}")))
            wait_workers(agent, i + 1)
        yield copies
    finally:
        for copy in copies:
            copy.close()


def request_copy_in(agent, dest):
    """Sends a copy_in request alone and returns the agent's first frame as
    (kind, fields), after checking the agent then closes the connection."""
    with Connection(agent.addr, timeout=10) as conn:
        conn.send_raw(frame(copy_in_request(dest)))
        reply = conn.recv()
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.recv() == (None, None), "the agent sent more after the Error"
    return reply


def assert_limit_error(reply, running, limit):
    kind, fields = reply
    assert kind == A_ERROR, reply
    assert first(fields, 1) == CODE_RESOURCE_EXHAUSTED
    assert first(fields, 3, b"").decode() == limit_message(running, limit)


def test_copy_beyond_limit_rejected(start_agent, ember_bin, work_dir):
    agent = start_agent(["--max-copies", "2"])
    with hold_copies(agent, work_dir, "held", 2) as held_copies:
        workers = worker_pids(agent)

        reply = request_copy_in(agent, os.path.join(work_dir, "third"))
        assert_limit_error(reply, 2, 2)
        # No worker started for the rejected copy, and it wrote nothing.
        assert sorted(worker_pids(agent)) == sorted(workers)
        assert not os.path.exists(os.path.join(work_dir, "third"))

        # copy_out counts against the same limit, and emberctl shows the message.
        source = os.path.join(work_dir, "source")
        with open(source, "wb") as f:
            f.write(b"source\n")
        result = subprocess.run([ember_bin("emberctl"), "-c", agent.addr, "cp", ":" + source,
                                 os.path.join(work_dir, "out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert result.returncode == EXIT_REMOTE, result.stderr
        assert limit_message(2, 2).encode() in result.stderr, result.stderr
        assert not os.path.exists(os.path.join(work_dir, "out"))

        # Other requests are still served at the limit.
        ping = subprocess.run([ember_bin("emberctl"), "-c", agent.addr, "ping"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert ping.returncode == 0, ping.stderr

        # A finished copy gives its slot back.
        kind, fields = held_copies[0].finish()
        assert kind == A_RESULT, fields
        wait_workers(agent, 1)
        with open(held_copies[0].dest, "rb") as f:
            assert f.read() == HELD_CONTENT
        result = subprocess.run([ember_bin("emberctl"), "-c", agent.addr, "cp", ":" + source,
                                 os.path.join(work_dir, "out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert result.returncode == 0, result.stderr
        with open(os.path.join(work_dir, "out"), "rb") as f:
            assert f.read() == b"source\n"

    # A client that hangs up gives its slot back too, so two new copies fit
    # under the limit again and a third is rejected.
    wait_workers(agent, 0)
    assert not os.path.exists(held_copies[1].dest)
    with hold_copies(agent, work_dir, "again", 2) as held_copies:
        assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "third")), 2, 2)
    wait_workers(agent, 0)
    wait_no_connections(agent)
    assert "too many copies" in agent.log()


def test_killed_workers_free_slots(start_agent, work_dir):
    """A worker killed by a signal, and a stopped worker that the agent kills
    COPY_WORKER_STOP_MS after its client left, both give their slot back."""
    agent = start_agent(["--max-copies", "2"])
    with hold_copies(agent, work_dir, "held", 2) as held_copies:
        first_worker, second_worker = worker_pids(agent)

        os.kill(first_worker, signal.SIGKILL)
        wait_workers(agent, 1)
        held_copies.append(HeldCopy(agent, os.path.join(work_dir, "after-kill")))
        wait_workers(agent, 2)
        assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "x")), 2, 2)

        # A stopped worker cannot notice the hang-up, so the agent kills it.
        os.kill(second_worker, signal.SIGSTOP)
        held_copies[1].close()
        wait_workers(agent, 1, timeout=COPY_WORKER_STOP_S + 5)
        assert second_worker not in worker_pids(agent)
        held_copies.append(HeldCopy(agent, os.path.join(work_dir, "after-hangup")))
        wait_workers(agent, 2)
        assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "x")), 2, 2)
    wait_workers(agent, 0)
    assert "after the client left; killing it" in agent.log()
    assert os.listdir(work_dir) == []


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_simultaneous_exits_free_all_slots(start_agent, work_dir):
    """Workers that exit together: the exec resets a worker's exit signal to
    SIGCHLD, so the agent's SIGCHLD reaper collects some of them before their
    pidfd is read. Each must still give its slot and connection back, and the
    agent must not spin on a pidfd whose process is gone."""
    agent = start_agent(["--max-copies", "8"])
    for round_index in range(3):
        with hold_copies(agent, work_dir, f"r{round_index}", 8) as held_copies:
            assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "x")), 8, 8)
        wait_workers(agent, 0)
        wait_no_connections(agent)

    cpu_before = cpu_seconds(agent.proc.pid)
    time.sleep(0.5)
    assert cpu_seconds(agent.proc.pid) - cpu_before < 0.1
    assert "failed to reap" not in agent.log()
    assert os.listdir(work_dir) == []


def test_agent_stop_at_limit_reaps_workers(start_agent, work_dir):
    agent = start_agent(["--max-copies", "2"])
    with hold_copies(agent, work_dir, "held", 2) as held_copies:
        workers = worker_pids(agent)
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=10) == 0, agent.log()
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} is left"
    assert os.listdir(work_dir) == []


def test_default_limit_enforced(start_agent, work_dir):
    agent = start_agent()
    with hold_copies(agent, work_dir, "held", DEFAULT_MAX_COPIES) as held_copies:
        reply = request_copy_in(agent, os.path.join(work_dir, "over"))
        assert_limit_error(reply, DEFAULT_MAX_COPIES, DEFAULT_MAX_COPIES)
        assert len(worker_pids(agent)) == DEFAULT_MAX_COPIES
    wait_workers(agent, 0)


def test_config_max_copies(start_agent, work_dir):
    config = os.path.join(work_dir, "config.json")
    with open(config, "w") as f:
        json.dump({"agent": {"max_copies": 1}}, f)
    agent = start_agent(["--config", config])
    held_copy = HeldCopy(agent, os.path.join(work_dir, "held"))
    try:
        wait_workers(agent, 1)
        assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "x")), 1, 1)
    finally:
        held_copy.close()
    wait_workers(agent, 0)

    # The command line overrides the config.
    agent = start_agent(["--config", config, "--max-copies", "2"])
    with hold_copies(agent, work_dir, "override", 2) as held_copies:
        assert_limit_error(request_copy_in(agent, os.path.join(work_dir, "x")), 2, 2)
    wait_workers(agent, 0)


@pytest.mark.parametrize("value", ["0", str(MAX_COPIES_LIMIT + 1), "-1", "many", ""])
def test_invalid_max_copies_option(ember_bin, value):
    result = subprocess.run([ember_bin("ember-agent"), "--listen", "unix:/nonexistent/sock",
                             "--max-copies", value],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    assert result.returncode == EXIT_USAGE
    assert (f"invalid --max-copies '{value}': expected a number from 1 to "
            f"{MAX_COPIES_LIMIT}").encode() in result.stderr, result.stderr


@pytest.mark.parametrize("value", [0, MAX_COPIES_LIMIT + 1, "4"])
def test_invalid_max_copies_config(ember_bin, work_dir, value):
    expected = (f"invalid config '{work_dir}/config.json': agent.max_copies is "
                f"{json.dumps(value)}; expected an integer from 1 to {MAX_COPIES_LIMIT}")
    config = os.path.join(work_dir, "config.json")
    with open(config, "w") as f:
        json.dump({"agent": {"max_copies": value}}, f)
    result = subprocess.run([ember_bin("ember-agent"), "--listen", "unix:/nonexistent/sock",
                             "--config", config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    assert result.returncode == EXIT_USAGE
    assert expected.encode() in result.stderr, result.stderr


def test_help_lists_max_copies(ember_bin):
    result = subprocess.run([ember_bin("ember-agent"), "--help"], stdout=subprocess.PIPE,
                            timeout=10)
    assert result.returncode == 0
    assert f"--max-copies N     concurrent copy_in and copy_out requests (default " \
           f"{DEFAULT_MAX_COPIES})".encode() in result.stdout
