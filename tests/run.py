#!/usr/bin/python3
"""Run ember's test suites and print one summary line.

Usage: tests/run.py [--unit-only] UNIT_BINARY... [-- PYTEST_ARGS...]

Each unit-test binary prints "NAME: N passed, N failed"; pytest runs the
integration and end-to-end tests under tests/. The last line is the total,
"total: N passed, N failed, N skipped", and the exit status is 1 when anything
failed.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^(\S+): (\d+) passed, (\d+) failed$")


def run_unit(binaries):
    runner = os.environ.get("UNIT_RUNNER", "").split()
    passed = failed = 0
    for binary in binaries:
        proc = subprocess.run(runner + [binary], capture_output=True, text=True, timeout=600)
        sys.stdout.write(proc.stderr)
        lines = [m for m in map(SUMMARY.match, proc.stdout.splitlines()) if m]
        if not lines:
            print(f"{binary}: no summary line (exit status {proc.returncode}); counted as failed")
            failed += 1
            continue
        print(proc.stdout.splitlines()[-1])
        passed += int(lines[-1].group(2))
        failed += int(lines[-1].group(3))
        if proc.returncode != 0 and int(lines[-1].group(3)) == 0:
            print(f"{binary}: exit status {proc.returncode} after its summary; counted as failed")
            failed += 1
    return passed, failed


def run_pytest(args):
    build = os.environ.get("EMBER_BUILD", "build")
    reports = os.path.join(ROOT, build, "tests")
    os.makedirs(reports, exist_ok=True)
    # One report per run, so two concurrent runs never read each other's.
    report = os.path.join(reports, f"pytest-{os.getpid()}.xml")
    cmd = [sys.executable, "-m", "pytest", "-ra", f"--junitxml={report}"] + (args or ["tests"])
    proc = subprocess.run(cmd, cwd=ROOT)
    if not os.path.exists(report):
        print(f"pytest wrote no report (exit status {proc.returncode}); counted as failed")
        return 0, 1, 0
    suites = ET.parse(report).getroot()
    os.unlink(report)
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    # Exit status 5 means no test was collected: that is a failure of the suite.
    if proc.returncode not in (0, 1) or total == 0:
        failed += 1
    return total - failed - skipped, failed, skipped


def main(argv):
    unit_only = "--unit-only" in argv
    argv = [a for a in argv if a != "--unit-only"]
    pytest_args = []
    if "--" in argv:
        split = argv.index("--")
        argv, pytest_args = argv[:split], argv[split + 1:]
    passed, failed = run_unit(argv)
    print(f"unit: {passed} passed, {failed} failed")
    skipped = 0
    if not unit_only:
        p, f, skipped = run_pytest(pytest_args)
        passed, failed = passed + p, failed + max(f, 0)
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
