"""ember-rootfs as an unprivileged user (nobody): the ext4 and initramfs outputs still take
owners, modes, setuid bits and device nodes from the image, not from the user."""
import os
import shutil
import subprocess
import tempfile

import pytest

from rootfs_images import debugfs, e2fsck_clean

NOBODY = 65534


@pytest.fixture
def public_dir():
    """A world-readable directory outside pytest's private temporary tree."""
    path = tempfile.mkdtemp(prefix="ember-rootless-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


def run_as_nobody(args, cwd):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups"] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=cwd, env=dict(os.environ, TMPDIR=cwd), timeout=300)


def test_rootless_ext4_keeps_image_owners(rootfs_bin, busybox_image, public_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the nobody user")
    layout = os.path.join(public_dir, "layout")
    shutil.copytree(busybox_image["layout"], layout)
    subprocess.run(["chmod", "-R", "a+rX", layout], check=True)
    image = os.path.join(public_dir, "root.ext4")
    proc = run_as_nobody([rootfs_bin, "build", "-q", "-o", image, f"oci:{layout}:bb"],
                         public_dir)
    assert proc.returncode == 0, proc.stderr
    assert os.stat(image).st_uid == NOBODY
    ok, report = e2fsck_clean(image)
    assert ok, report
    hostname = debugfs(image, "stat /etc/hostname")
    assert "User:  1000   Group:  1001" in hostname
    assert "User:     0   Group:     0" in debugfs(image, "stat /bin/busybox")
    console = debugfs(image, "stat /dev/console")
    assert "Type: character special" in console
    assert "Device major/minor number: 05:01" in console

    initrd = os.path.join(public_dir, "initrd.img")
    proc = run_as_nobody([rootfs_bin, "build", "-q", "--format", "initramfs", "-o", initrd,
                          f"oci:{layout}:bb"], public_dir)
    assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(f"zcat {initrd} | cpio -itv --quiet --numeric-uid-gid",
                             shell=True, capture_output=True, text=True, check=True).stdout
    line = next(l for l in listing.splitlines() if l.endswith("etc/hostname"))
    assert line.split()[2:4] == ["1000", "1001"]
