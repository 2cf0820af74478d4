"""Large inputs: 60,000 small files, and a Debian minbase tree from debootstrap (slow the
first time, then cached) checked against `umoci unpack`."""
import os
import signal
import subprocess
import time

import pytest

from rootfs_images import (INJECTED, add_layer, diff_snapshots, e2fsck_clean, loop_mount,
                           new_layout, set_config, snapshot, tar_layer, unpack)

SMALL_FILES = 60000
BIG_DIRECTORY = 10000


def inode_usage(mountpoint):
    """Returns (used, free) inodes from `df -i`."""
    line = subprocess.run(["df", "-i", mountpoint], capture_output=True, text=True,
                          check=True).stdout.splitlines()[-1].split()
    return int(line[2]), int(line[3])


@pytest.fixture(scope="module")
def many_files_image(tmp_path_factory):
    """50 directories of 1,000 files and one directory of 10,000."""
    base = tmp_path_factory.mktemp("many")
    tree = base / "tree"
    for d in range(50):
        directory = tree / "d" / f"{d:02d}"
        directory.mkdir(parents=True)
        for i in range(1000):
            (directory / f"f{i:04d}").write_bytes(b"x%d\n" % i)
    big = tree / "big"
    big.mkdir()
    for i in range(BIG_DIRECTORY):
        (big / f"entry-with-a-longer-name-{i:05d}").write_bytes(b"")
    image = new_layout(base / "oci", "many")
    add_layer(image, tar_layer(base / "layer.tar", tree, "."))
    set_config(image, "--config.cmd", "/bin/true")
    return f"oci:{image}"


def test_sixty_thousand_files(builder, many_files_image, tmp_path):
    image = tmp_path / "root.ext4"
    builder.build(many_files_image, image)
    ok, report = e2fsck_clean(image)
    assert ok, report
    with loop_mount(image, tmp_path / "mnt") as mnt:
        assert len(os.listdir(os.path.join(mnt, "big"))) == BIG_DIRECTORY
        count = sum(len(files) for _, _, files in os.walk(os.path.join(mnt, "d")))
        assert count + BIG_DIRECTORY == SMALL_FILES
        with open(os.path.join(mnt, "d/49/f0999"), "rb") as f:
            assert f.read() == b"x999\n"
        used, free = inode_usage(mnt)
        assert used > SMALL_FILES
        assert free > 1000


@pytest.mark.slow
def test_debian_minbase_matches_umoci(builder, minbase_image, tmp_path):
    image = tmp_path / "root.ext4"
    proc = builder.build(minbase_image["oci"], image)
    assert proc.returncode == 0
    ok, report = e2fsck_clean(image)
    assert ok, report
    oracle = snapshot(unpack(minbase_image["image"], str(tmp_path / "bundle")),
                      skip=INJECTED)
    with loop_mount(image, tmp_path / "mnt") as mnt:
        tree = snapshot(mnt, skip=INJECTED)
        # /sbin is a link to usr/sbin in a merged-/usr tree: ember's binaries went there.
        for name in ("usr/sbin/ember-init", "usr/sbin/ember-agent"):
            assert tree.pop(name)[0] == 0o100000
        assert os.path.islink(os.path.join(mnt, "sbin"))
        assert inode_usage(mnt)[1] > 1000
    assert diff_snapshots(oracle, tree) == []


def test_interrupted_build_leaves_nothing(rootfs_bin, many_files_image, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([rootfs_bin, "build", "-q", "-o", str(out_dir / "root.ext4"),
                             many_files_image], stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Wait until the build writes its temporary output, then stop it.
        deadline = time.monotonic() + 30
        while not os.listdir(out_dir) and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by signal 15" in stderr
    assert os.listdir(out_dir) == []
