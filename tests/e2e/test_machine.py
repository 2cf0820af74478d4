"""The machine recipe itself, before any ember binary is involved: the cloud
kernel boots a busybox initramfs under microvm, loads the virtio modules,
brings eth0 up and powers off; the runner's hard timeout holds."""
import shutil
import time

import pytest

from initramfs import Initramfs

BUSYBOX = "/bin/busybox"
BOOT_LIMIT_S = 60


def busybox_initramfs(path, kernel, script):
    if not shutil.which("busybox"):
        pytest.fail("busybox is missing: run scripts/install-packages.sh")
    image = Initramfs()
    image.add_file("/bin/busybox", BUSYBOX, 0o755)
    for applet in ("sh", "insmod", "ip", "poweroff", "mount", "cat", "echo", "sleep"):
        image.add_symlink(f"/bin/{applet}", "busybox")
    modules = kernel.module_closure(["virtio_mmio", "virtio_net", "virtio_blk"])
    for module in modules:
        image.add_file(f"/lib/modules/{kernel.release}/{module}",
                       f"{kernel.modules}/{module}")
    loads = "\n".join(f"insmod /lib/modules/{kernel.release}/{m}" for m in modules)
    image.add_data("/init", "#!/bin/sh\nmkdir -p /proc /sys\nmount -t proc proc /proc\n"
                   f"mount -t sysfs sys /sys\n{loads}\n{script}\n", 0o755)
    image.write(path)
    return path


def test_busybox_boots_and_powers_off(tmp_path, kernel, machine):
    initrd = busybox_initramfs(tmp_path / "initrd.cpio", kernel,
                               "ip link set eth0 up\nip -o link show eth0\n"
                               "echo 'ember: exit status 7'\nip link set eth0 down\n"
                               "poweroff -f")
    started = time.monotonic()
    vm = machine(initrd=str(initrd), timeout=BOOT_LIMIT_S)
    assert vm.exit_status(BOOT_LIMIT_S) == 7
    assert "eth0: <" in vm.console()
    print(f"busybox boot to power-off: {time.monotonic() - started:.2f}s")


def test_hard_timeout_kills_hung_guest(tmp_path, kernel, machine):
    initrd = busybox_initramfs(tmp_path / "initrd.cpio", kernel,
                               "echo hanging\nwhile true; do sleep 1; done")
    vm = machine(initrd=str(initrd), timeout=8)
    vm.wait_console("^hanging", timeout=8)
    status = vm.proc.wait(timeout=30)
    assert status == 128 + 9 or status == -9, f"QEMU exit status {status}"
