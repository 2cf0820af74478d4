"""Fixtures for the end-to-end suite: the Debian cloud kernel (fetched into
the cache by scripts/fetch-kernel.sh on first use), the built binaries, and a
machine factory whose machines are killed after each test and whose
directories (console log included) are kept when the test failed."""
import os
import subprocess

import pytest

from qemu import Kernel, Machine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Fetching downloads about 27 MB once; later runs reuse the cache.
FETCH_TIMEOUT_S = 600


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_failed = report.failed


@pytest.fixture(scope="session")
def kernel():
    """The cloud kernel, fetched with apt-get download on first use."""
    script = os.path.join(ROOT, "scripts", "fetch-kernel.sh")
    proc = subprocess.run([script], capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"scripts/fetch-kernel.sh failed:\n{proc.stderr}")
    return Kernel(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def machine(request, kernel):
    """Returns a function that starts a Machine(kernel, **options). Every
    machine is stopped at the end of the test; a failed test keeps their
    directories and prints where they are."""
    machines = []

    def start(**options):
        vm = Machine(kernel, name=request.node.name[:40], **options)
        machines.append(vm)
        return vm.start()

    yield start
    failed = getattr(request.node, "e2e_failed", True)
    for vm in machines:
        vm.close(keep=failed)
