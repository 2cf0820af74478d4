"""ember-rootfs on a busybox image made by umoci, in each image transport and each output
format, checked against `umoci unpack` of the same image."""
import gzip
import json
import os
import shutil
import stat
import subprocess

import pytest

from rootfs_images import (INJECTED, debugfs, diff_snapshots, e2fsck_clean, loop_mount,
                           snapshot, unpack)

MOUNT_POINTS = {"proc", "sys", "dev", "run", "tmp"}
# The busybox image has no /sbin: ember-rootfs creates it for its binaries.
CREATED_DIRS = {"sbin", "etc/ember"}
SKIP = INJECTED | MOUNT_POINTS | CREATED_DIRS


@pytest.fixture(scope="module")
def oracle(busybox_image, tmp_path_factory):
    bundle = tmp_path_factory.mktemp("oracle") / "bundle"
    return snapshot(unpack(busybox_image["oci"].split(":", 1)[1], str(bundle)))


@pytest.mark.parametrize("transport", ["oci", "docker-archive", "oci-archive"])
def test_dir_output_matches_umoci(builder, busybox_image, oracle, tmp_path, transport):
    out = tmp_path / "root"
    builder.build(busybox_image[transport], out, "--format", "dir")
    tree = snapshot(str(out), skip=SKIP)
    assert diff_snapshots(oracle, tree) == []


def test_ext4_output_matches_umoci(builder, busybox_image, oracle, tmp_path):
    image = tmp_path / "root.ext4"
    builder.build(busybox_image["oci"], image)
    ok, report = e2fsck_clean(image)
    assert ok, report
    with loop_mount(image, tmp_path / "mnt") as mnt:
        tree = snapshot(mnt, skip=SKIP)
        assert diff_snapshots(oracle, tree) == []
        console = os.lstat(os.path.join(mnt, "dev/console"))
        assert stat.S_ISCHR(console.st_mode)
        assert (os.major(console.st_rdev), os.minor(console.st_rdev)) == (5, 1)
        for name in MOUNT_POINTS:
            assert os.path.isdir(os.path.join(mnt, name)), name
        assert stat.S_IMODE(os.lstat(os.path.join(mnt, "tmp")).st_mode) == 0o1777
        init = os.lstat(os.path.join(mnt, "sbin/ember-init"))
        assert init.st_mode & 0o111
        assert os.path.getsize(os.path.join(mnt, "sbin/ember-agent")) > 0


def test_boot_config_from_image(builder, busybox_image, tmp_path):
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir")
    with open(out / "etc/ember/config.json") as f:
        config = json.load(f)
    process = config["process"]
    assert process["args"] == ["/bin/sh", "-c", "echo hi"]
    # The kernel command line's words after `--` replace only the Cmd.
    assert process["entrypoint_args"] == 1
    assert "GREETING=hello" in process["env"]
    assert any(v.startswith("PATH=") for v in process["env"])
    assert process["cwd"] == "/etc"
    assert process["user"] == "1000:1000"
    assert set(config) == {"process"}


def test_boot_config_overrides(builder, busybox_image, tmp_path):
    token = tmp_path / "token"
    token.write_text("secret\n")
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir", "--entrypoint",
                  '["/bin/echo", "x"]', "--env", "GREETING=bye", "--env", "NEW=1",
                  "--workdir", "/", "--user", "root", "--hostname", "vm1",
                  "--listen", "vsock:1023", "--listen", "tcp:0.0.0.0:7000",
                  "--agent-token", token, "--start-mode", "host")
    with open(out / "etc/ember/config.json") as f:
        config = json.load(f)
    # --entrypoint drops the image's Cmd, as `docker run --entrypoint` does.
    assert config["process"]["args"] == ["/bin/echo", "x"]
    assert config["process"]["entrypoint_args"] == 2
    assert "GREETING=bye" in config["process"]["env"]
    assert "GREETING=hello" not in config["process"]["env"]
    assert "NEW=1" in config["process"]["env"]
    assert config["process"]["cwd"] == "/"
    assert config["process"]["user"] == "root"
    assert config["hostname"] == "vm1"
    assert config["start_mode"] == "host"
    assert config["agent"] == {"listen": ["vsock:1023", "tcp:0.0.0.0:7000"],
                               "token_file": "/etc/ember/token"}
    assert (out / "etc/ember/token").read_text() == "secret\n"
    assert stat.S_IMODE(os.lstat(out / "etc/ember/token").st_mode) == 0o600


def test_tcp_listener_without_token_fails(builder, busybox_image, tmp_path):
    out = tmp_path / "root.ext4"
    proc = builder.build(busybox_image["oci"], out, "--listen", "tcp:0.0.0.0:7000",
                         check=False)
    assert proc.returncode == 1
    assert "--agent-token" in proc.stderr
    assert os.listdir(tmp_path) == []


def list_cpio(path):
    with gzip.open(path) as f:
        data = f.read()
    proc = subprocess.run(["cpio", "-itv", "--quiet"], input=data, capture_output=True,
                          check=True)
    return proc.stdout.decode()


def test_initramfs_has_init_and_console(builder, busybox_image, tmp_path):
    out = tmp_path / "initrd.img"
    builder.build(busybox_image["oci"], out, "--format", "initramfs")
    with open(out, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    listing = list_cpio(out)
    lines = {line.split(" -> ")[0].split()[-1]: line for line in listing.splitlines()}
    assert lines["init"].startswith("-rwxr-xr-x")
    assert lines["dev/console"].startswith("crw-------")
    assert "5,   1" in lines["dev/console"] or "5, 1" in lines["dev/console"]
    assert "bin/busybox" in lines
    assert lines["bin/sh"].startswith("lrwxrwxrwx")

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    with gzip.open(out) as f:
        subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=f.read(),
                       cwd=unpacked, check=True)
    assert (unpacked / "init").read_bytes() == (unpacked / "sbin/ember-init").read_bytes()
    assert os.stat(unpacked / "init").st_ino == os.stat(unpacked / "sbin/ember-init").st_ino


def test_initramfs_uncompressed(builder, busybox_image, tmp_path):
    out = tmp_path / "initrd.cpio"
    builder.build(busybox_image["oci"], out, "--format", "initramfs", "--compress", "none")
    with open(out, "rb") as f:
        assert f.read(6) == b"070701"


@pytest.mark.parametrize("fmt", ["ext4", "initramfs"])
def test_source_date_epoch_reproducible(builder, busybox_image, ember_bin_dir, tmp_path, fmt):
    # A private copy of the ember binaries, so that a rebuild between the two runs cannot
    # change the input.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("ember-init", "ember-agent"):
        shutil.copy2(os.path.join(ember_bin_dir, name), bin_dir / name)
    first, second = tmp_path / "a.img", tmp_path / "b.img"
    builder.build(busybox_image["oci"], first, "--format", fmt, "--ember-bin", bin_dir,
                  epoch=1700000000)
    builder.build(busybox_image["oci"], second, "--format", fmt, "--ember-bin", bin_dir,
                  epoch=1700000000)
    assert first.read_bytes() == second.read_bytes()


def test_ext4_size_and_free_options(builder, busybox_image, tmp_path):
    sized = tmp_path / "sized.ext4"
    builder.build(busybox_image["oci"], sized, "--size", "64M")
    assert os.path.getsize(sized) == 64 * 1024 * 1024
    auto, roomy = tmp_path / "auto.ext4", tmp_path / "roomy.ext4"
    builder.build(busybox_image["oci"], auto)
    builder.build(busybox_image["oci"], roomy, "--free", "100M")
    assert os.path.getsize(roomy) >= os.path.getsize(auto) + 100 * 1024 * 1024
    ok, report = e2fsck_clean(roomy)
    assert ok, report


def test_ext4_too_small_fails_without_output(builder, busybox_image, tmp_path):
    out = tmp_path / "tiny.ext4"
    proc = builder.build(busybox_image["oci"], out, "--size", "8M", "--free", "0",
                         "--entrypoint", "/bin/sh", check=False)
    assert proc.returncode == 1
    assert "raise --size" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_inspect_json(rootfs_bin, busybox_image):
    proc = subprocess.run([rootfs_bin, "inspect", "--json", busybox_image["oci"]],
                          capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    assert info["platform"]["architecture"] == "amd64"
    assert info["config"]["Entrypoint"] == ["/bin/sh"]
    assert len(info["layers"]) == 1
    assert info["layers"][0]["digest"].startswith("sha256:")
    assert info["manifest_digest"].startswith("sha256:")


def test_inspect_text(rootfs_bin, busybox_image):
    proc = subprocess.run([rootfs_bin, "inspect", busybox_image["docker-archive"]],
                          capture_output=True, text=True, check=True)
    assert "platform     linux/amd64" in proc.stdout
    assert 'entrypoint   ["/bin/sh"]' in proc.stdout
    assert "layers       1" in proc.stdout


def test_plain_tree_with_config(builder, busybox_image, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"architecture": "amd64", "os": "linux",
                                  "config": {"Cmd": ["/bin/ls", "/"]}}))
    out = tmp_path / "root.ext4"
    builder.build(f"rootfs:{busybox_image['tree']}", out, "--config", config)
    assert '"/bin/ls"' in debugfs(out, "cat /etc/ember/config.json")
    assert "busybox" in debugfs(out, "ls -l /bin")

    tar = tmp_path / "tree.tar.gz"
    subprocess.run(["tar", "-czf", tar, "-C", busybox_image["tree"], "."], check=True)
    out2 = tmp_path / "root2"
    builder.build(f"rootfs-tar:{tar}", out2, "--format", "dir", "--cmd", "/bin/sh")
    assert (out2 / "bin/busybox").is_file()
    assert os.readlink(out2 / "bin/sh") == "busybox"


def test_plain_tree_needs_a_process(builder, busybox_image, tmp_path):
    proc = builder.build(f"rootfs:{busybox_image['tree']}", tmp_path / "x.ext4", check=False)
    assert proc.returncode == 1
    assert "no Entrypoint or Cmd" in proc.stderr
    assert os.listdir(tmp_path) == []


def test_boot_config_accepted_by_init(builder, busybox_image, ember_bin, tmp_path):
    token = tmp_path / "token"
    token.write_text("secret\n")
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir", "--listen", "vsock:1023",
                  "--listen", "tcp:0.0.0.0:7000", "--agent-token", token, "--hostname", "vm",
                  "--start-mode", "host", "--env", "A=1")
    proc = subprocess.run([ember_bin("ember-init"), "--check-config",
                           str(out / "etc/ember/config.json"), "--root", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout


def test_missing_workdir_created(builder, busybox_image, tmp_path):
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir", "--workdir", "/srv/app")
    assert (out / "srv/app").is_dir()
    assert stat.S_IMODE(os.lstat(out / "srv/app").st_mode) == 0o755


@pytest.mark.parametrize("user", ["nobody", "65534", "1000:1000", "root:0"])
def test_user_known_to_image_accepted(builder, busybox_image, tmp_path, user):
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir", "--user", user)
    with open(out / "etc/ember/config.json") as f:
        assert json.load(f)["process"]["user"] == user


@pytest.mark.parametrize("user, missing", [("bob", "no user 'bob'"),
                                           ("root:wheel", "no group 'wheel'")])
def test_user_unknown_to_image_rejected(builder, busybox_image, tmp_path, user, missing):
    # ember-init would stop the boot on this config: the build fails instead.
    out = tmp_path / "root.ext4"
    proc = builder.build(busybox_image["oci"], out, "--user", user, check=False)
    assert proc.returncode == 1
    assert f"invalid user '{user}'" in proc.stderr
    assert missing in proc.stderr
    assert not [name for name in os.listdir(tmp_path) if name.startswith("root.ext4")]
