"""Fixtures for the end-to-end suite. They provide the Debian cloud kernel
(fetched into the cache by scripts/fetch-kernel.sh on first use), the built
binaries, and factories for machines and ember guests. Every machine is killed
after its test, and a failed test keeps the machine directories, console log
included."""
import os
import subprocess

import pytest

from ember_vm import EmberVM
from guest_image import (AGENT_TCP_PORT, BASE_MODULES, boot_initramfs, ember_disk,
                         ember_initramfs, new_token)
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


@pytest.fixture
def bin_dir(ember_bin):
    """The build's bin directory, once ember-init, ember-agent and emberctl exist."""
    for name in ("ember-init", "ember-agent", "emberctl"):
        path = ember_bin(name)
    return os.path.dirname(path)


@pytest.fixture
def ember_guest(tmp_path, kernel, machine, bin_dir):
    """Returns a function that boots an ember initramfs guest with CONFIG (see
    guest_image.base_config) and returns an EmberVM. With ready=True (the
    default) it waits for the agent; machine options pass through."""
    count = [0]

    def boot(config, modules=BASE_MODULES, files=None, ready=True, **options):
        count[0] += 1
        token = new_token()
        initrd = tmp_path / f"initrd-{count[0]}.cpio"
        ember_initramfs(initrd, kernel, bin_dir, config, token, modules=modules, files=files)
        options.setdefault("timeout", 180)
        vm = machine(initrd=str(initrd), agent_port=AGENT_TCP_PORT, **options)
        guest = EmberVM(vm, os.path.join(bin_dir, "emberctl"), token, tmp_path)
        if ready:
            guest.wait_ready()
        return guest

    return boot


@pytest.fixture
def disk_guest(tmp_path, kernel, machine, bin_dir):
    """Returns a function that boots a guest whose root is an ext4 image on
    virtio-blk: a boot initramfs loads the modules, mounts /dev/vda and
    switches to it, where the image's own ember-init reads CONFIG. The
    returned EmberVM has .disk, the image path on the host."""

    def boot(config, files=None, ready=True, size_mb=64, **options):
        token = new_token()
        initrd = boot_initramfs(tmp_path / "boot.cpio", kernel, bin_dir)
        disk = ember_disk(tmp_path / "root.ext4", tmp_path, kernel, bin_dir, config, token,
                          files=files, size_mb=size_mb)
        options.setdefault("timeout", 180)
        vm = machine(initrd=str(initrd), disks=[str(disk)], agent_port=AGENT_TCP_PORT,
                     **options)
        guest = EmberVM(vm, os.path.join(bin_dir, "emberctl"), token, tmp_path)
        guest.disk = str(disk)
        if ready:
            guest.wait_ready()
        return guest

    return boot
