"""Runs the named benchmarks (init, exec, copy, freeze, rootfs) one after the
other, then regenerates the tables of BENCHMARKS.md from bench/results/.

A benchmark that fails is reported and the others still run; the exit status
is 1 when any failed.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN = ("init", "exec", "copy", "freeze", "rootfs")


def main(names):
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        sys.exit(f"run_all.py: unknown benchmark {unknown}: choose from {', '.join(KNOWN)}")
    failed = []
    for name in names or KNOWN:
        print(f"bench: running {name}", file=sys.stderr, flush=True)
        script = os.path.join(HERE, f"{name}_bench.py")
        if subprocess.run([sys.executable, script]).returncode != 0:
            failed.append(name)
    subprocess.run([sys.executable, os.path.join(HERE, "report.py")], check=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
