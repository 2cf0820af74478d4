"""The arm64 guest on a real arm64 kernel: qemu-system-aarch64 -M virt -cpu max
(TCG) boots Debian's cloud-arm64 kernel with an initramfs that
`ember-rootfs build --arch arm64` made from a tree with an arm64 busybox.
ember-init loads the virtio modules, configures eth0 from ip= and starts the
aarch64 agent; the native emberctl drives exec, copy in and out, freeze and
thaw, and shutdown with the entrypoint's exit status.

The kernel (scripts/fetch-kernel.sh linux-image-cloud-arm64:arm64) and
busybox-static:arm64 are fetched with apt-get download into the cache once.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from ember_vm import EmberVM
from guest_image import AGENT_TCP_PORT, BASE_MODULES, BUSYBOX_APPLETS, ext4_image, new_token
from qemu import Kernel, Machine, cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARM64_BIN = os.path.join(ROOT, "build", "arm64", "bin")
KERNEL_PACKAGE = "linux-image-cloud-arm64:arm64"
BUSYBOX_PACKAGE = "busybox-static:arm64"
FETCH_TIMEOUT_S = 600
GUEST_CMDLINE = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
# Measured here: 5 to 16 s from QEMU start to a ready agent under TCG on a
# shared 2-core machine. The limits leave room for a loaded machine.
READY_TIMEOUT_S = 120
MACHINE_TIMEOUT_S = 300
# The entrypoint exits with this status when the agent's shutdown sends TERM.
ENTRYPOINT_STATUS = 7
WRITER = "while :; do date >> /mnt/data/writer.log; sync; sleep 0.05; done"
ENTRYPOINT = ["/bin/sh", "-c",
              "echo entrypoint-up; trap 'echo entrypoint-stopping; exit %d' TERM; "
              "while :; do sleep 1 & wait $!; done" % ENTRYPOINT_STATUS]


@pytest.fixture(scope="module")
def arm64_kernel():
    script = os.path.join(ROOT, "scripts", "fetch-kernel.sh")
    proc = subprocess.run([script, KERNEL_PACKAGE], capture_output=True, text=True,
                          timeout=FETCH_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"scripts/fetch-kernel.sh {KERNEL_PACKAGE} failed:\n{proc.stderr}")
    kernel = Kernel(proc.stdout.strip().splitlines()[-1])
    assert kernel.arch == "arm64"
    return kernel


@pytest.fixture(scope="module")
def arm64_busybox():
    """Returns the path of busybox-static:arm64's binary, cached after the first run."""
    cached = os.path.join(cache_dir(), "arm64", "busybox")
    if os.path.exists(cached):
        return cached
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".busybox-", dir=os.path.dirname(cached))
    try:
        proc = subprocess.run(["apt-get", "download", "-q", BUSYBOX_PACKAGE], cwd=work,
                              capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
        debs = glob.glob(os.path.join(work, "*.deb"))
        if proc.returncode != 0 or not debs:
            pytest.fail(f"failed to download {BUSYBOX_PACKAGE} with apt-get: {proc.stderr}")
        subprocess.run(["dpkg", "-x", debs[0], os.path.join(work, "root")], check=True,
                       timeout=60)
        os.rename(os.path.join(work, "root", "bin", "busybox"), cached)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached


@pytest.fixture
def arm64_machine(request, arm64_kernel):
    """Returns a function that starts a Machine on the arm64 kernel; stopped at
    the end of the test, its directory kept when the test failed."""
    machines = []

    def start(**options):
        vm = Machine(arm64_kernel, name="arm64", **options)
        machines.append(vm)
        return vm.start()

    yield start
    failed = getattr(request.node, "e2e_failed", True)
    for vm in machines:
        vm.close(keep=failed)


@pytest.fixture
def arm64_tools(ember_bin):
    """The native emberctl and ember-rootfs, once build/arm64/bin exists."""
    for name in ("ember-init", "ember-agent"):
        if not os.access(os.path.join(ARM64_BIN, name), os.X_OK):
            pytest.fail(f"{ARM64_BIN}/{name} is missing: run `make ARCH=arm64`")
    return ember_bin("emberctl"), ember_bin("ember-rootfs")


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def busybox_rootfs(tree, busybox):
    for directory in ("bin", "etc", "tmp", "root"):
        os.makedirs(os.path.join(tree, directory))
    shutil.copy(busybox, os.path.join(tree, "bin", "busybox"))
    os.chmod(os.path.join(tree, "bin", "busybox"), 0o755)
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(tree, "bin", applet))
    with open(os.path.join(tree, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(tree, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")


def build_initramfs(rootfs_tool, tmp_path, kernel, busybox, token_path):
    tree = tmp_path / "tree"
    busybox_rootfs(str(tree), busybox)
    output = tmp_path / "arm64.cpio"
    proc = subprocess.run(
        [rootfs_tool, "build", "--quiet", "--format", "initramfs", "--arch", "arm64",
         "--kernel-modules", kernel.modules, "--modules", ",".join(BASE_MODULES),
         "--entrypoint", json.dumps(ENTRYPOINT), "--cmd", "[]",
         "--env", "PATH=/bin", "--hostname", "ember-arm64",
         "--listen", f"tcp:0.0.0.0:{AGENT_TCP_PORT}", "--agent-token", str(token_path),
         "-o", str(output), f"rootfs:{tree}"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return output


def test_arm64_guest_end_to_end(tmp_path, arm64_machine, arm64_kernel, arm64_busybox,
                                arm64_tools):
    emberctl, rootfs_tool = arm64_tools
    token = new_token()
    token_path = tmp_path / "token"
    token_path.write_text(token)
    initrd = build_initramfs(rootfs_tool, tmp_path, arm64_kernel, arm64_busybox, token_path)
    (tmp_path / "data").mkdir()
    disk = ext4_image(tmp_path / "data.ext4", tmp_path / "data", size_mb=16)

    vm = arm64_machine(initrd=str(initrd), disks=[str(disk)], agent_port=AGENT_TCP_PORT,
                       append=GUEST_CMDLINE, timeout=MACHINE_TIMEOUT_S)
    guest = EmberVM(vm, emberctl, token, tmp_path).wait_ready(READY_TIMEOUT_S)
    boot_s = time.monotonic() - vm.started_at
    print(f"\narm64 TCG: agent ready {boot_s:.1f} s after QEMU started")

    # exec: the kernel and the agent are aarch64, the address came from ip=.
    assert guest.run("uname -m").strip() == "aarch64"
    assert guest.run("hostname").strip() == "ember-arm64"
    addresses = guest.run("ip -4 addr show dev eth0")
    assert "10.0.2.15/24" in addresses
    assert "virtio_net" in guest.run("cat /proc/modules")
    assert guest.ctl("exec", "--", "/bin/sh", "-c", "exit 5").returncode == 5

    # copy in and out, byte for byte.
    payload = os.urandom(256 * 1024)
    (tmp_path / "in.bin").write_bytes(payload)
    guest.ctl("cp", str(tmp_path / "in.bin"), ":/tmp/in.bin", check=True)
    assert guest.run("cat /tmp/in.bin | wc -c").strip() == str(len(payload))
    guest.ctl("cp", ":/tmp/in.bin", str(tmp_path / "out.bin"), check=True)
    assert (tmp_path / "out.bin").read_bytes() == payload

    # freeze and thaw an ext4 filesystem on virtio-blk, because the initramfs
    # root (rootfs, a tmpfs) cannot be frozen. A writer syncs every 50 ms, so
    # a disk image that stays the same for a second shows the freeze holds.
    guest.run("mkdir -p /mnt/data && mount -t ext4 /dev/vda /mnt/data")
    writer = guest.popen("exec", "--", "/bin/sh", "-c", WRITER, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        guest.run("while [ ! -s /mnt/data/writer.log ]; do sleep 0.1; done")
        guest.ctl("freeze", "/mnt/data", check=True)
        assert "frozen: yes" in guest.ctl("fsstatus", check=True).stdout
        frozen_digest = file_digest(disk)
        time.sleep(1)
        assert file_digest(disk) == frozen_digest
        guest.ctl("thaw", check=True)
        size = int(guest.run("stat -c %s /mnt/data/writer.log"))
        time.sleep(1)
        assert int(guest.run("stat -c %s /mnt/data/writer.log")) > size
    finally:
        writer.terminate()
        writer.wait(timeout=30)

    assert "entrypoint-up" in guest.ctl("logs", check=True).stdout
    guest.ctl("shutdown", check=True)
    assert vm.exit_status(60) == ENTRYPOINT_STATUS
    assert "entrypoint-stopping" in vm.console()
