"""ember-rootfs and arm64: the image's architecture decides which build's
binaries go in, and a mismatch between the requested architecture, the image
and the binaries is an error before any output is written."""
import json
import os
import shutil
import subprocess

import pytest

from rootfs_images import set_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARM64_BIN = os.path.join(ROOT, "build", "arm64", "bin")
EM_X86_64, EM_AARCH64 = 62, 183
FORMATS = {"ext4": "root.ext4", "initramfs": "root.cpio", "dir": "root"}


def elf_machine(path):
    with open(path, "rb") as f:
        header = f.read(20)
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def arm64_build():
    if not os.access(os.path.join(ARM64_BIN, "ember-init"), os.X_OK):
        pytest.fail(f"{ARM64_BIN}/ember-init is missing: run `make ARCH=arm64`")
    return ARM64_BIN


@pytest.fixture(scope="module")
def arm64_image(busybox_image, tmp_path_factory):
    """A single-platform image (no index) whose config says linux/arm64."""
    layout = tmp_path_factory.mktemp("arm64") / "oci"
    shutil.copytree(busybox_image["layout"], layout)
    set_config(f"{layout}:bb", "--architecture", "arm64")
    return f"oci:{layout}:bb"


def test_single_platform_arm64_takes_arm64_build(builder, arm64_image, arm64_build,
                                                  tmp_path):
    out = tmp_path / "root"
    builder.build(arm64_image, out, "--format", "dir")
    assert elf_machine(out / "sbin/ember-init") == EM_AARCH64
    assert elf_machine(out / "sbin/ember-agent") == EM_AARCH64


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_requested_arch_mismatch_writes_nothing(builder, arm64_image, tmp_path, fmt):
    out = tmp_path / FORMATS[fmt]
    proc = builder.build(arm64_image, out, "--format", fmt, "--arch", "amd64", check=False)
    assert proc.returncode == 1
    assert "is for linux/arm64, not for the requested amd64" in proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_amd64_binaries_in_arm64_image_rejected(builder, arm64_image, ember_bin_dir,
                                                tmp_path, fmt):
    out = tmp_path / FORMATS[fmt]
    proc = builder.build(arm64_image, out, "--format", fmt, "--ember-bin", ember_bin_dir,
                         check=False)
    assert proc.returncode == 1
    assert "not for arm64" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_plain_tree_arch_arm64(builder, busybox_image, arm64_build, tmp_path):
    out = tmp_path / "root"
    builder.build(f"rootfs:{busybox_image['tree']}", out, "--format", "dir", "--arch",
                  "arm64", "--cmd", "/bin/sh")
    assert elf_machine(out / "sbin/ember-init") == EM_AARCH64
    # The aarch64 ember-init accepts the boot config written next to it.
    proc = subprocess.run(["qemu-aarch64-static", str(out / "sbin/ember-init"),
                           "--check-config", str(out / "etc/ember/config.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_plain_tree_config_mismatch(builder, busybox_image, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"os": "linux", "architecture": "amd64",
                                  "config": {"Cmd": ["/bin/sh"]}}))
    out = tmp_path / "out" / "root"
    out.parent.mkdir()
    proc = builder.build(f"rootfs:{busybox_image['tree']}", out, "--format", "dir",
                         "--arch", "arm64", "--config", config, check=False)
    assert proc.returncode == 1
    assert "is for linux/amd64, not for the requested arm64" in proc.stderr
    assert os.listdir(out.parent) == []
