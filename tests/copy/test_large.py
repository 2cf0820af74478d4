"""Sparse files, a file over 4 GiB with the agent's memory measured, and the
progress display on a terminal and on a pipe."""
import hashlib
import os
import shutil
import subprocess
import threading
import time

# Sizes of the large-file tests.
SPARSE_SIZE = 2 << 30
BIG_SIZE = 5 << 30
# Memory a copy process may use whatever the file size (measured ~1-3 MiB).
RSS_LIMIT_KIB = 32 * 1024


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(4 << 20)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def allocated(path):
    return os.stat(path).st_blocks * 512


def make_sparse(path):
    with open(path, "wb") as f:
        f.truncate(SPARSE_SIZE)
        f.seek(SPARSE_SIZE // 2)
        f.write(os.urandom(4096))


def test_sparse_file_stays_sparse(cp, work_dir):
    src = os.path.join(work_dir, "sparse")
    make_sparse(src)
    assert allocated(src) <= 64 * 1024

    guest = os.path.join(work_dir, "guest-sparse")
    result = cp(src, ":" + guest)
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(guest) == SPARSE_SIZE
    assert allocated(guest) <= 64 * 1024

    back = os.path.join(work_dir, "back-sparse")
    result = cp(":" + guest, back)
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(back) == SPARSE_SIZE
    assert allocated(back) <= 64 * 1024
    assert sha256_of(back) == sha256_of(src)


class RssSampler:
    """Samples the peak VmRSS of the agent and of its copy workers."""

    def __init__(self, agent_pid):
        self.agent_pid = agent_pid
        self.agent_peak = 0
        self.worker_peak = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @staticmethod
    def rss_kib(pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def children(self):
        pids = []
        task_dir = f"/proc/{self.agent_pid}/task"
        for task in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, task, "children")) as f:
                    pids += [int(p) for p in f.read().split()]
            except OSError:
                pass
        return pids

    def run(self):
        while not self.stop_event.wait(0.1):
            self.agent_peak = max(self.agent_peak, self.rss_kib(self.agent_pid))
            for pid in self.children():
                self.worker_peak = max(self.worker_peak, self.rss_kib(pid))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()


def test_five_gib_file_both_ways(cp, agent, work_dir):
    src = os.path.join(work_dir, "big")
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(src, "wb") as f:
        for i in range(BIG_SIZE >> 20):
            chunk = block[:8] + i.to_bytes(8, "little") + block[16:]
            digest.update(chunk)
            f.write(chunk)
    expected = digest.hexdigest()

    guest = os.path.join(work_dir, "guest-big")
    back = os.path.join(work_dir, "back-big")
    with RssSampler(agent.proc.pid) as sampler:
        started = time.monotonic()
        result = cp(src, ":" + guest, timeout=600)
        copy_in_s = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        os.unlink(src)
        started = time.monotonic()
        result = cp(":" + guest, back, timeout=600)
        copy_out_s = time.monotonic() - started
        assert result.returncode == 0, result.stderr

    print(f"5 GiB: copy-in {copy_in_s:.1f} s, copy-out {copy_out_s:.1f} s, agent RSS peak "
          f"{sampler.agent_peak} KiB, worker RSS peak {sampler.worker_peak} KiB")
    assert os.path.getsize(back) == BIG_SIZE
    assert sha256_of(back) == expected
    assert 0 < sampler.agent_peak < RSS_LIMIT_KIB
    assert 0 < sampler.worker_peak < RSS_LIMIT_KIB


def test_progress_bar_on_terminal_only(ember_bin, agent, cp, work_dir):
    if not shutil.which("tmux"):
        raise AssertionError("tmux is missing: install it (scripts/install-packages.sh)")
    src = os.path.join(work_dir, "medium")
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for _ in range(768):
            f.write(block)

    # On a pipe: no progress output at all.
    result = cp(src, ":" + os.path.join(work_dir, "piped"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""

    # On a terminal: a bar with bytes, rate and ETA, drawn on stderr.
    server = "ember-copy-test-" + str(os.getpid())
    done_marker = os.path.join(work_dir, "done")
    command = (f"{ember_bin('emberctl')} -c {agent.addr} cp {src} "
               f":{os.path.join(work_dir, 'tty')}; touch {done_marker}; sleep 30")
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-x", "160", "-y", "20",
                    command], check=True)
    try:
        screens = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "-L", server, "capture-pane", "-p"],
                                    capture_output=True, text=True).stdout
            screens.append(screen)
            if os.path.exists(done_marker):
                break
            time.sleep(0.05)
        final = subprocess.run(["tmux", "-L", server, "capture-pane", "-p"],
                               capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], check=False)
    assert os.path.exists(done_marker)
    assert "100%" in final
    assert "768.0 MiB / 768.0 MiB" in final
    assert "/s" in final
    assert "ETA" in final
