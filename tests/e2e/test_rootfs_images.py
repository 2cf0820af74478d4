"""Images made by ember-rootfs, booted for real. The Debian minbase OCI image
(debootstrap + umoci, cached) becomes an ext4 root, and a boot initramfs that
ember-rootfs builds from an empty tree loads the virtio modules, mounts root=
and switches to it; root= and ip= come from the kernel command line. A busybox
tree becomes an initramfs-only image."""
import json
import os
import subprocess

import pytest

from ember_vm import EmberVM
from guest_image import AGENT_TCP_PORT, BASE_MODULES, add_busybox, new_token
from initramfs import Initramfs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IP_CMDLINE = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
GUEST_CMDLINE = f"root=/dev/vda rootfstype=ext4 rw {IP_CMDLINE}"
# debootstrap runs once (about a minute) and is cached afterwards.
OCI_TIMEOUT_S = 900
ENTRYPOINT = ["/bin/sh", "-c",
              "echo entrypoint-up; trap 'echo entrypoint-stopping; exit 0' TERM; "
              "while :; do sleep 1 & wait $!; done"]


@pytest.fixture(scope="module")
def debian_layout():
    script = os.path.join(ROOT, "scripts", "build-debian-oci.sh")
    proc = subprocess.run([script], capture_output=True, text=True, timeout=OCI_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-debian-oci.sh failed:\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def rootfs(bin_dir, *args):
    proc = subprocess.run([os.path.join(bin_dir, "ember-rootfs"), "build", "--quiet",
                           "--ember-bin", bin_dir, *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_debian_minbase_boots_from_ext4(tmp_path, kernel, machine, bin_dir, debian_layout):
    token = new_token()
    (tmp_path / "token").write_text(token)
    modules = ["--kernel-modules", kernel.modules, "--modules", ",".join(BASE_MODULES)]
    rootfs(bin_dir, "--format", "ext4", "--free", "64M", *modules,
           "--hostname", "ember-debian", "--entrypoint", json.dumps(ENTRYPOINT), "--cmd", "[]",
           "--listen", f"tcp:0.0.0.0:{AGENT_TCP_PORT}", "--agent-token", str(tmp_path / "token"),
           "-o", str(tmp_path / "root.ext4"), f"oci:{debian_layout}:minbase")
    (tmp_path / "empty").mkdir()
    rootfs(bin_dir, "--format", "initramfs", "--cmd", "/bin/true", *modules,
           "-o", str(tmp_path / "boot.cpio"), f"rootfs:{tmp_path / 'empty'}")

    vm = machine(initrd=str(tmp_path / "boot.cpio"), disks=[str(tmp_path / "root.ext4")],
                 agent_port=AGENT_TCP_PORT, append=GUEST_CMDLINE, memory_mb=512, timeout=180)
    guest = EmberVM(vm, os.path.join(bin_dir, "emberctl"), token, tmp_path).wait_ready()

    assert 'ID=debian' in guest.run("cat /etc/os-release")
    root = guest.run("grep ' / ' /proc/mounts").split()
    assert root[:3] == ["/dev/vda", "/", "ext4"]
    assert guest.run("readlink /proc/1/exe").strip().endswith("/sbin/ember-init")
    assert guest.run("hostname").strip() == "ember-debian"
    # Checked at the end, so that a failure here does not hide the shutdown checks.
    nobody = guest.ctl("exec", "-u", "nobody", "--", "id", "-un")
    assert "entrypoint-up" in guest.ctl("logs", check=True).stdout

    guest.ctl("shutdown", check=True)
    assert vm.exit_status(60) == 0
    assert "entrypoint-stopping" in vm.console()
    fsck = subprocess.run(["e2fsck", "-fn", str(tmp_path / "root.ext4")], capture_output=True,
                          text=True, timeout=120)
    assert fsck.returncode == 0, fsck.stdout
    assert nobody.returncode == 0, nobody.stderr
    assert nobody.stdout.strip() == "nobody"


def test_busybox_initramfs_image(tmp_path, kernel, machine, bin_dir):
    token = new_token()
    (tmp_path / "token").write_text(token)
    tree = Initramfs()
    add_busybox(tree)
    tree.add_data("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    tree.add_data("/etc/group", "root:x:0:\n")
    tree.extract(str(tmp_path / "tree"))
    entrypoint = ["/bin/sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 6"]
    rootfs(bin_dir, "--format", "initramfs", "--kernel-modules", kernel.modules,
           "--modules", ",".join(BASE_MODULES), "--entrypoint", json.dumps(entrypoint),
           "--listen", f"tcp:0.0.0.0:{AGENT_TCP_PORT}", "--agent-token", str(tmp_path / "token"),
           "-o", str(tmp_path / "image.cpio.gz"), f"rootfs:{tmp_path / 'tree'}")

    vm = machine(initrd=str(tmp_path / "image.cpio.gz"), agent_port=AGENT_TCP_PORT,
                 append=IP_CMDLINE, timeout=180)
    guest = EmberVM(vm, os.path.join(bin_dir, "emberctl"), token, tmp_path).wait_ready()
    assert guest.run("readlink /proc/1/exe").strip() in ("/init", "/sbin/ember-init")
    assert guest.run("grep -c ' / ' /proc/mounts").strip() == "1"
    guest.run("mkdir -p /tmp && touch /tmp/go")
    assert vm.exit_status(60) == 6
