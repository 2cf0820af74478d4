#!/usr/bin/python3
"""Measure boot times of an ember initramfs guest under QEMU (not a test).

Usage: /usr/bin/python3 tests/e2e/boot_timing.py [--boots N] [--arch amd64|arm64]

Boots N guests one after another (TCG unless EMBER_QEMU_ACCEL names another
accelerator) and prints the median and range of:
  - from ember-init's own /run/ember/boot-timings (guest CLOCK_MONOTONIC,
    which starts near kernel start): PID 1 start, agent started, entrypoint
    started;
  - from the host's clock, counted from starting QEMU: the console lines of
    ember-init's first message (printed after it loaded the modules), the
    agent's "ready" message and the entrypoint's first output, and `emberctl
    wait-ready` started together with QEMU.
Run `make` and scripts/fetch-kernel.sh first. For --arch arm64, run `make
ARCH=arm64` and tests/e2e/test_arm64.py once: it fetches the arm64 kernel and
busybox into the cache.
"""
import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import guest_image  # noqa: E402
import qemu  # noqa: E402
from ember_vm import EmberVM  # noqa: E402
from guest_image import AGENT_TCP_PORT, base_config, ember_initramfs, new_token  # noqa: E402

DEFAULT_BOOTS = 10
MARKER = "entrypoint-started"
# Console lines whose first appearance is timed on the host's clock.
CONSOLE_MARKS = {
    "host_console_init_first_line": r"^ember-init: ",
    "host_console_agent_ready": r"^ember-agent: .* ready",
    "host_console_entrypoint": rf"^{MARKER}",
}


def watch_console(vm, found):
    """Records in FOUND the host time (since QEMU started) at which each of
    CONSOLE_MARKS first appears on the console."""
    pending = dict(CONSOLE_MARKS)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline and vm.proc.poll() is None:
        text = vm.console()
        for key, pattern in list(pending.items()):
            if re.search(pattern, text, re.M):
                found[key] = time.monotonic() - vm.started_at
                del pending[key]
        time.sleep(0.005)


def read_timings(text):
    """Parses boot-timings lines "STEP MONOTONIC_NS" into {step: seconds}."""
    timings = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            timings[fields[0]] = int(fields[1]) / 1e9
    return timings


def boot_once(kernel, bin_dir, emberctl, workdir):
    token = new_token()
    initrd = os.path.join(workdir, "initrd.cpio")
    config = base_config(args=["/bin/sh", "-c", f"echo {MARKER}; exec sleep 3600"])
    ember_initramfs(initrd, kernel, bin_dir, config, token)
    vm = qemu.Machine(kernel, initrd=initrd, agent_port=AGENT_TCP_PORT, timeout=120,
                      name="timing")
    guest = EmberVM(vm, emberctl, token, workdir)
    found = {}
    watcher = threading.Thread(target=watch_console, args=(vm, found))
    vm.start()
    watcher.start()
    try:
        guest.wait_ready()
        found["host_wait_ready"] = time.monotonic() - vm.started_at
        watcher.join()
        # NOTE: the console file is polled every 5 ms, so the console times
        # are late by up to that much.
        timings = read_timings(guest.run("cat /run/ember/boot-timings"))
    except BaseException:
        vm.close(keep=True)
        raise
    vm.close()
    # The "kernel" step is the clock's origin, always 0.
    timings.pop("kernel", None)
    return {**found, **{f"guest_{step}": value for step, value in timings.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=DEFAULT_BOOTS)
    parser.add_argument("--arch", choices=("amd64", "arm64"), default="amd64")
    args = parser.parse_args()
    kernel = qemu.Kernel.from_cache(args.arch)
    if kernel is None:
        sys.exit(f"no {args.arch} kernel in the cache: run scripts/fetch-kernel.sh")
    qemu.CONSOLE_POLL_S = 0.01
    bin_dir = os.path.join(ROOT, "build", "bin")
    emberctl = os.path.join(bin_dir, "emberctl")
    if args.arch == "arm64":
        bin_dir = os.path.join(ROOT, "build", "arm64", "bin")
        guest_image.BUSYBOX = os.path.join(qemu.cache_dir(), "arm64", "busybox")
        if not os.path.exists(guest_image.BUSYBOX):
            sys.exit(f"{guest_image.BUSYBOX} is missing: run tests/e2e/test_arm64.py once")
    results = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ember-boot-timing-") as workdir:
        for index in range(args.boots):
            results.append(boot_once(kernel, bin_dir, emberctl, workdir))
            print(f"boot {index + 1}: " + ", ".join(f"{k} {v:.3f}s"
                                                   for k, v in results[-1].items()))
    print(f"\n{args.boots} boots, accel {os.environ.get('EMBER_QEMU_ACCEL', 'tcg')}, "
          f"kernel {kernel.release}, load average {load_start:.2f} at the start and "
          f"{os.getloadavg()[0]:.2f} at the end")
    print("| measure | median (s) | min (s) | max (s) |\n|---|---|---|---|")
    for key in results[0]:
        values = [r[key] for r in results if key in r]
        print(f"| {key} | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{max(values):.3f} |")


if __name__ == "__main__":
    main()
