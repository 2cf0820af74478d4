"""Runs the named benchmarks (init, exec, copy, freeze, rootfs) one after the
other, then regenerates the tables of BENCHMARKS.md from bench/results/.

A benchmark that fails is reported and the others still run; the exit status
is 1 when any failed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.path.dirname(HERE), os.environ.get("EMBER_BUILD", "build"))
KNOWN = ("init", "exec", "copy", "freeze", "rootfs")


def snapshot_build(directory):
    """Copies the built binaries and the driver into directory and returns the
    environment that points the benchmarks at the copies."""
    shutil.copytree(os.path.join(BUILD, "bin"), os.path.join(directory, "bin"))
    driver = os.path.join(directory, "ember-bench")
    shutil.copy2(os.path.join(BUILD, "bench", "ember-bench"), driver)
    return dict(os.environ, EMBER_BENCH_BIN=os.path.join(directory, "bin"),
                EMBER_BENCH_DRIVER=driver)


def main(names):
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        sys.exit(f"run_all.py: unknown benchmark {unknown}: choose from {', '.join(KNOWN)}")
    failed = []
    snapshot = tempfile.mkdtemp(prefix="ember-bench-bin-")
    try:
        env = snapshot_build(snapshot)
        for name in names or KNOWN:
            print(f"bench: running {name}", file=sys.stderr, flush=True)
            script = os.path.join(HERE, f"{name}_bench.py")
            if subprocess.run([sys.executable, script], env=env).returncode != 0:
                failed.append(name)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(HERE, "report.py")], check=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
