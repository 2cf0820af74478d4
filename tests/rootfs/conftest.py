"""Fixtures for the ember-rootfs tests: the builder, a busybox image in all three image
formats, and a cached Debian minbase tree (debootstrap, slow the first time).

The minbase tree is cached as a tar in $EMBER_CACHE/rootfs-tests (default
/var/tmp/ember-cache/rootfs-tests), outside the repository, so later runs skip debootstrap.
Tests that use it are marked `slow`; `-m "not slow"` leaves them out.
"""
import os
import shutil
import subprocess

import pytest

from rootfs_images import busybox_tree, new_layout, repack_tree, run, set_config, skopeo_copy

CACHE = os.path.join(os.environ.get("EMBER_CACHE", "/var/tmp/ember-cache"), "rootfs-tests")
MINBASE_TAR = os.path.join(CACHE, "bookworm-minbase.tar")
DEBOOTSTRAP_TIMEOUT = 900


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs the Debian minbase tree (debootstrap)")


@pytest.fixture(scope="session")
def rootfs_bin(ember_bin):
    return ember_bin("ember-rootfs")


@pytest.fixture(scope="session")
def ember_bin_dir(ember_bin):
    return os.path.dirname(ember_bin("ember-init"))


class Builder:
    """Runs `ember-rootfs` with TMPDIR inside the test's directory."""

    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp_path = tmp_path

    def run(self, *args, epoch=None, check=True):
        env = dict(os.environ, TMPDIR=str(self.tmp_path))
        env.pop("SOURCE_DATE_EPOCH", None)
        if epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(epoch)
        proc = subprocess.run([self.binary] + [str(a) for a in args], capture_output=True,
                              text=True, env=env, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"ember-rootfs {' '.join(map(str, args))} failed with "
                                 f"status {proc.returncode}:\n{proc.stderr}")
        return proc

    def build(self, image, output, *args, **kwargs):
        return self.run("build", "-q", "-o", output, *args, image, **kwargs)


@pytest.fixture
def builder(rootfs_bin, tmp_path):
    return Builder(rootfs_bin, tmp_path)


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory):
    """A busybox image as an OCI layout, a docker-archive and an oci-archive."""
    base = tmp_path_factory.mktemp("busybox")
    tree = busybox_tree(str(base / "tree"))
    image = new_layout(base / "oci", "bb")
    repack_tree(image, tree, str(base / "bundle"))
    set_config(image, "--config.entrypoint", "/bin/sh", "--config.cmd", "-c",
               "--config.cmd", "echo hi", "--config.env", "GREETING=hello",
               "--config.workingdir", "/etc", "--config.user", "1000:1000")
    skopeo_copy(f"oci:{base}/oci:bb", f"docker-archive:{base}/docker.tar:busybox:1")
    skopeo_copy(f"oci:{base}/oci:bb", f"oci-archive:{base}/oci.tar:bb")
    return {
        "oci": f"oci:{base}/oci:bb",
        "docker-archive": f"docker-archive:{base}/docker.tar",
        "oci-archive": f"oci-archive:{base}/oci.tar",
        "tree": tree,
        "layout": str(base / "oci"),
    }


def ensure_minbase_tar():
    """Returns the cached minbase tar, running debootstrap once to make it."""
    if os.path.exists(MINBASE_TAR):
        return MINBASE_TAR
    if not shutil.which("debootstrap"):
        pytest.skip("debootstrap is not installed (scripts/install-packages.sh installs it)")
    os.makedirs(CACHE, exist_ok=True)
    work = os.path.join(CACHE, f"minbase.{os.getpid()}")
    try:
        run(["debootstrap", "--variant=minbase", "bookworm", work,
             "http://deb.debian.org/debian"], timeout=DEBOOTSTRAP_TIMEOUT)
        run(["tar", "--create", "--file", MINBASE_TAR + ".part", "--directory", work,
             "--numeric-owner", "--xattrs", "--xattrs-include=*", "--format=pax", "."])
        os.rename(MINBASE_TAR + ".part", MINBASE_TAR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return MINBASE_TAR


@pytest.fixture(scope="session")
def minbase_image(tmp_path_factory):
    """The Debian minbase tree as a one-layer OCI image (umoci raw add-layer)."""
    tar = ensure_minbase_tar()
    base = tmp_path_factory.mktemp("minbase")
    image = new_layout(base / "oci", "bookworm")
    run(["umoci", "raw", "add-layer", "--image", image, tar])
    set_config(image, "--config.cmd", "/bin/bash")
    return {"oci": f"oci:{image}", "image": image, "base": base}
