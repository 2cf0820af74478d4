"""The machine recipe itself: the cloud kernel boots a busybox initramfs
under microvm, loads the virtio modules, brings eth0 up and powers off, and
the runner's hard timeout holds. Then ember-agent alone (started by a shell
/init, without ember-init) serves emberctl through the hostfwd."""
import os
import shutil
import time

import pytest

from ember_vm import EmberVM
from guest_image import AGENT_TCP_PORT, GUEST_TOKEN_PATH, new_token
from initramfs import Initramfs

BUSYBOX = "/bin/busybox"
BOOT_LIMIT_S = 60


def busybox_initramfs(path, kernel, script, files=None):
    if not shutil.which("busybox"):
        pytest.fail("busybox is missing: run scripts/install-packages.sh")
    image = Initramfs()
    for guest, (source, mode) in (files or {}).items():
        image.add_file(guest, source, mode)
    image.add_file("/bin/busybox", BUSYBOX, 0o755)
    for applet in ("sh", "insmod", "ip", "poweroff", "mount", "cat", "echo", "sleep", "mkdir"):
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


@pytest.mark.parametrize("use_bzimage", [False, True], ids=["vmlinux", "bzimage"])
def test_busybox_boots_and_powers_off(tmp_path, kernel, machine, use_bzimage):
    initrd = busybox_initramfs(tmp_path / "initrd.cpio", kernel,
                               "ip link set eth0 up\nip -o link show eth0\n"
                               "echo 'ember: exit status 7'\nip link set eth0 down\n"
                               "poweroff -f")
    started = time.monotonic()
    vm = machine(initrd=str(initrd), timeout=BOOT_LIMIT_S, use_bzimage=use_bzimage)
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


def test_standalone_agent_serves_exec(tmp_path, kernel, machine, bin_dir):
    token = new_token()
    (tmp_path / "token").write_text(token)
    agent = os.path.join(bin_dir, "ember-agent")
    script = ("mkdir -p /dev /tmp\nmount -t devtmpfs dev /dev\n"
              "ip link set lo up\nip link set eth0 up\nip addr add 10.0.2.15/24 dev eth0\n"
              f"/sbin/ember-agent --listen tcp:0.0.0.0:{AGENT_TCP_PORT} "
              f"--token-file {GUEST_TOKEN_PATH}\n"
              "echo \"ember: exit status $?\"\npoweroff -f")
    initrd = busybox_initramfs(tmp_path / "initrd.cpio", kernel, script, files={
        "/sbin/ember-agent": (agent, 0o755),
        GUEST_TOKEN_PATH: (str(tmp_path / "token"), 0o600)})
    vm = machine(initrd=str(initrd), agent_port=AGENT_TCP_PORT, timeout=120)
    guest = EmberVM(vm, os.path.join(bin_dir, "emberctl"), token, tmp_path).wait_ready()

    proc = guest.ctl("exec", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 5")
    assert proc.returncode == 5
    assert proc.stdout == "out\n"
    assert proc.stderr == "err\n"
    info = guest.ctl("info", check=True).stdout
    assert kernel.release in info

    wrong = EmberVM(vm, guest.emberctl, new_token(), tmp_path)
    assert wrong.ctl("ping").returncode != 0
