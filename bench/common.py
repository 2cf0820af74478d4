"""Shared helpers for ember's benchmarks: a session that undoes everything it
started or mounted, machine facts, hyperfine runs, statistics and result files.

Each benchmark script writes one summary to bench/results/NAME.json (committed,
so bench/report.py can regenerate BENCHMARKS.md without a rerun) and keeps raw
data such as hyperfine exports under build/bench/NAME/.
"""
import json
import os
import platform
import shlex
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("EMBER_BUILD", "build"))
# run_all.py points these at a snapshot of the build, so a rebuild during the
# run cannot swap a binary between two measurements.
BIN = os.environ.get("EMBER_BENCH_BIN") or os.path.join(BUILD, "bin")
DRIVER = os.environ.get("EMBER_BENCH_DRIVER") or os.path.join(BUILD, "bench", "ember-bench")
RESULTS = os.path.join(ROOT, "bench", "results")

# Seconds a process gets between SIGTERM and SIGKILL when a session ends.
STOP_TIMEOUT_S = 5


class Interrupted(Exception):
    """Raised in place of the default action of SIGTERM, SIGINT and SIGHUP, so
    that every cleanup of the session still runs."""


def _raise_interrupted(signum, frame):
    raise Interrupted(f"interrupted by signal {signum}")


class Session:
    """Owns a temporary directory and a stack of cleanup actions run in reverse
    order on exit, whether the benchmark finished, failed or was interrupted."""

    def __init__(self, name):
        self.name = name
        self.cleanups = []
        self.tmp = None
        self.raw_dir = os.path.join(BUILD, "bench", name)

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _raise_interrupted)
        self.tmp = tempfile.mkdtemp(prefix=f"ember-bench-{self.name}-")
        self.defer(shutil.rmtree, self.tmp, True)
        os.makedirs(self.raw_dir, exist_ok=True)
        return self

    def __exit__(self, *exc):
        # A second signal during cleanup must not cut it short.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        while self.cleanups:
            action, args = self.cleanups.pop()
            try:
                action(*args)
            except Exception as error:  # log each failed cleanup and run the rest
                log(f"cleanup {getattr(action, '__name__', action)}{args} failed: {error}")
        return False

    def defer(self, action, *args):
        """Registers action(*args) to run when the session ends."""
        self.cleanups.append((action, args))

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def spawn(self, argv, log_name=None, **kwargs):
        """Starts argv in the background; the session stops it by PID at exit."""
        if log_name:
            log_file = open(self.path(log_name), "ab")
            kwargs.setdefault("stdout", log_file)
            kwargs.setdefault("stderr", log_file)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        if log_name:
            log_file.close()
        self.defer(stop_process, proc)
        return proc

    def mount(self, argv_tail, target):
        """Runs `mount ARGV_TAIL TARGET`; the session unmounts TARGET at exit."""
        os.makedirs(target, exist_ok=True)
        run(["mount"] + list(argv_tail) + [target])
        self.defer(run, ["umount", target])


def cgroup2_mount():
    """Returns where a cgroup2 hierarchy is mounted (/sys/fs/cgroup on a
    cgroup2-only machine, /sys/fs/cgroup/unified on a hybrid one), or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] == "cgroup2":
                return fields[4]
    return None


def enter_own_cgroup(session):
    """Moves this process into a new child cgroup of its current cgroup2 group,
    so that what its children create there (ember-init makes ember/ and
    workload/) stays inside it. At the end of the session the process moves
    back and the whole subtree is removed."""
    mount = cgroup2_mount()
    if not mount:
        return None
    with open("/proc/self/cgroup") as f:
        current = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    original = os.path.join(mount, current.lstrip("/"))
    own = os.path.join(original, f"ember-bench-{os.getpid()}")
    os.mkdir(own)
    session.defer(remove_cgroup_tree, own)
    session.defer(move_to_cgroup, original)
    move_to_cgroup(own)
    return own


def move_to_cgroup(path):
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


def remove_cgroup_tree(path):
    """Removes a cgroup and its descendants, deepest first. rmdir fails on a
    cgroup that still has processes, so nothing running is touched."""
    for directory, subdirectories, _ in os.walk(path, topdown=False):
        os.rmdir(directory)


def stop_process(proc):
    """Stops a process this session started: SIGTERM, then SIGKILL after
    STOP_TIMEOUT_S, and reaps it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(argv, **kwargs):
    """Runs argv to completion and raises with its stderr when it fails."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    result = subprocess.run(argv, **kwargs)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip() if result.stderr else ""
        raise RuntimeError(f"command failed with status {result.returncode}: "
                           f"{shlex.join(argv)}: {stderr}")
    return result


def reexec_in_namespace(flags):
    """Re-runs this script under `unshare FLAGS` once, so that its mounts are
    private and vanish with the namespace even if a cleanup is missed."""
    if os.environ.get("EMBER_BENCH_IN_NS") == "1":
        return
    env = dict(os.environ, EMBER_BENCH_IN_NS="1")
    argv = ["unshare"] + flags + ["--", sys.executable] + sys.argv
    os.execvpe("unshare", argv, env)


def ember_binary(name):
    """Returns the path of a built ember binary, or None when it is missing."""
    path = os.path.join(BIN, name)
    return path if os.access(path, os.X_OK) else None


def stripped_size(name):
    """Returns the size of build/bin/NAME once stripped, or None when it is not
    built. The binary is stripped afresh: a NAME.stripped left by an earlier
    build can be older than NAME."""
    path = ember_binary(name)
    if not path:
        return None
    with tempfile.TemporaryDirectory(prefix="ember-bench-strip-") as directory:
        stripped = os.path.join(directory, name)
        run(["strip", "-o", stripped, path])
        return os.stat(stripped).st_size


def file_size(path):
    return os.stat(path).st_size if path and os.path.exists(path) else None


def proc_status(pid, field):
    """Returns a /proc/PID/status field in KiB (VmRSS, VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def summarize(samples_s):
    """Returns the median, mean, standard deviation, min and max of samples
    given in seconds, as milliseconds."""
    samples = sorted(samples_s)
    return {
        "runs": len(samples),
        "median_ms": statistics.median(samples) * 1e3,
        "mean_ms": statistics.fmean(samples) * 1e3,
        "stddev_ms": (statistics.stdev(samples) * 1e3) if len(samples) > 1 else 0.0,
        "min_ms": samples[0] * 1e3,
        "max_ms": samples[-1] * 1e3,
    }


def hyperfine(session, label, commands, runs, warmup, extra=()):
    """Runs hyperfine over named commands ([(name, command string)]) without a
    shell, exports its JSON under build/bench/, and returns per-command summaries
    and the exact command line."""
    export = os.path.join(session.raw_dir, f"{label}.json")
    argv = ["hyperfine", "--shell=none", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", export, "--style", "basic"] + list(extra)
    for name, command in commands:
        argv += ["--command-name", name, command]
    subprocess.run(argv, check=True, stdout=sys.stderr)
    with open(export) as f:
        data = json.load(f)
    results = {}
    for entry in data["results"]:
        summary = summarize(entry["times"])
        if entry.get("exit_codes"):
            summary["exit_codes"] = sorted(set(entry["exit_codes"]))
        results[entry["command"]] = summary
    return results, shlex.join(argv)


def machine():
    """Facts about the machine a result was measured on."""
    def first_line(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (out.stdout or out.stderr).strip()
            return text.splitlines()[0] if text else None
        except (OSError, subprocess.TimeoutExpired):
            return None

    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/etc/debian_version") as f:
        debian = f.read().strip()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "debian": debian,
        "qemu": first_line(["qemu-system-x86_64", "--version"]),
        "qemu_ga": first_line(["qemu-ga", "--version"]),
        "openssh": first_line(["ssh", "-V"]),
        "hyperfine": first_line(["hyperfine", "--version"]),
        "loadavg_start": os.getloadavg()[0],
        "git_commit": first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
    }


def write_result(name, result):
    """Writes bench/results/NAME.json, adding the load average at the end."""
    result.setdefault("machine", {})["loadavg_end"] = os.getloadavg()[0]
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"wrote {path}")


def env_int(name, default, minimum=1):
    """Reads an integer setting such as BENCH_INIT_RUNS from the environment."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < minimum:
        raise SystemExit(f"bench: invalid {name} '{value}': expected an integer ≥ {minimum}")
    return int(value)


def fmt_ms(value):
    if value is None:
        return "—"
    return f"{value / 1e3:.3f} s" if value >= 1e3 else f"{value:.2f} ms"


def fmt_ratio(value, base):
    return "—" if value is None or not base else f"{value / base:.2f}×"


def fmt_bytes(size):
    return "—" if size is None else f"{size:,} B ({size / 1024:.0f} KiB)"


def fmt_kib(kib):
    return "—" if kib is None else f"{kib:,} KiB ({kib / 1024:.1f} MiB)"


def verdict(met):
    return "met" if met else "missed"
