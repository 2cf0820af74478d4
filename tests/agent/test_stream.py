"""Output volume and ordering, slow readers, many runs, and resource leaks."""
import base64
import concurrent.futures
import os
import subprocess
import time

import procstat
import pyember


def read_exactly_slowly(stream, pause_every, pause_s, during_pause):
    """Reads stream to its end, pausing pause_s after every pause_every bytes
    and calling during_pause() while the reader stalls."""
    data = bytearray()
    next_pause = pause_every
    while True:
        chunk = stream.read1(65536)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) >= next_pause:
            next_pause += pause_every
            during_pause()
            time.sleep(pause_s)


def test_50mb_base64_slow_reader(agent, emberctl, ctl, short_dir):
    raw = os.path.join(short_dir, "raw")
    proc = subprocess.Popen([emberctl, "-c", agent.addr, "exec", "--", "sh", "-c",
                             f"head -c 50M /dev/urandom | tee {raw} | base64"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answered = []

    def other_sessions():
        start = time.monotonic()
        assert ctl(agent.addr, "ping", timeout=10).returncode == 0
        r = ctl(agent.addr, "exec", "--", "echo", "meanwhile", timeout=10)
        assert r.stdout == b"meanwhile\n"
        answered.append(time.monotonic() - start)

    out = read_exactly_slowly(proc.stdout, 16 << 20, 0.5, other_sessions)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    with open(raw, "rb") as f:
        expected = base64.encodebytes(f.read())
    assert len(out) == len(expected)
    assert out == expected
    assert len(answered) >= 3
    assert max(answered) < 2.0, answered


def test_1mb_interleaved_stdout_stderr(agent, ctl, short_dir):
    src = os.path.join(short_dir, "lines")
    with open(src, "wb") as f:
        f.write(base64.encodebytes(os.urandom(768 * 1024)))
    r = ctl(agent.addr, "exec", "--", "sh", "-c",
            f'while IFS= read -r l; do echo "$l"; echo "$l" >&2; done < {src}', timeout=120)
    with open(src, "rb") as f:
        expected = f.read()
    assert len(expected) > 1 << 20
    assert r.returncode == 0
    assert r.stdout == expected
    assert r.stderr == expected


def test_1000_runs_of_seq_complete(agent, emberctl):
    expected = b"".join(b"%d\n" % i for i in range(1, 100001)) + b"END"
    for i in range(1000):
        r = subprocess.run([emberctl, "-c", agent.addr, "exec", "--", "sh", "-c",
                            "seq 1 100000; printf END"], capture_output=True, timeout=30)
        assert r.returncode == 0, (i, r.stderr)
        assert len(r.stdout) == len(expected), i
        assert r.stdout.endswith(b"99999\n100000\nEND"), i
    assert r.stdout == expected


def wait_for_sessions_collected(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procstat.children(pid):
            return
        time.sleep(0.05)


def settled_fd_count(pid, quiet_s=3.0, timeout_s=20.0):
    """Returns the agent's descriptor count once it held still for quiet_s: a
    connection that got its final frame lingers for up to 2 s before the agent
    closes it, so a count taken at once can include one."""
    deadline = time.monotonic() + timeout_s
    count, since = procstat.fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = procstat.fd_count(pid)
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return count


def test_5000_sequential_500_concurrent_no_leaks(start_agent, emberctl):
    agent = start_agent(args=["--max-sessions", "600"])
    pid = agent.proc.pid

    def one_exec(i):
        result = pyember.run(agent.addr, ["sh", "-c", f"echo {i}"])
        assert result.exit["status"] == 0
        assert result.stdout == b"%d\n" % i

    for i in range(50):
        one_exec(i)
    wait_for_sessions_collected(pid)
    fds_before, rss_before = settled_fd_count(pid), procstat.rss_kib(pid)

    for i in range(5000):
        one_exec(i)

    # 500 at once: each exec keeps its session open until every one has started.
    procs = [subprocess.Popen([emberctl, "-c", agent.addr, "exec", "--", "sh", "-c",
                               f"sleep 1; echo {i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(500)]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (i, err)
        assert out == b"%d\n" % i

    wait_for_sessions_collected(pid)
    assert procstat.zombies(pid) == []
    assert procstat.children(pid) == []
    assert settled_fd_count(pid) == fds_before
    rss_after = procstat.rss_kib(pid)
    # Slack for allocator pages that stay mapped after the peak of 500 sessions.
    assert rss_after <= rss_before + 1024, (rss_before, rss_after)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one_exec, range(64)))


def test_large_stdin_and_output_at_once(agent, emberctl):
    # cat echoes while emberctl is still sending: with blocking writes on
    # both sides this exchange would deadlock once the buffers fill.
    data = os.urandom(24 << 20)
    r = subprocess.run([emberctl, "-c", agent.addr, "exec", "-i", "--", "cat"], input=data,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(data)
    assert r.stdout == data


def test_sigint_forwarded_without_tty(agent, emberctl):
    proc = subprocess.Popen([emberctl, "-c", agent.addr, "exec", "--", "sh", "-c",
                             'trap "echo got INT; exit 5" INT; echo ready; '
                             'while :; do sleep 0.1; done'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(2)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 5, err
    assert out == b"got INT\n"


def test_nonblocking_stdout_pipe(agent, emberctl):
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    proc = subprocess.Popen([emberctl, "-c", agent.addr, "exec", "--", "seq", "1", "200000"],
                            stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    received = bytearray()
    time.sleep(0.5)
    with os.fdopen(read_end, "rb") as reader:
        while chunk := reader.read(4096):
            received += chunk
            time.sleep(0.0005)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert bytes(received) == b"".join(b"%d\n" % i for i in range(1, 200001))
