"""Image sources beyond a plain OCI layout: multi-platform indexes (amd64 and arm64), the
OCI-based docker save layout of newer Docker releases, and the progress line on a
terminal."""
import hashlib
import io
import json
import os
import pty
import shutil
import subprocess
import tarfile

import pytest

from rootfs_images import diff_snapshots, snapshot, unpack

EM_X86_64, EM_AARCH64 = 62, 183
SKIP = {"sbin", "etc/ember", "dev", "proc", "sys", "run", "tmp"}


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def elf_machine(path):
    with open(path, "rb") as f:
        header = f.read(20)
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def multi_platform(busybox_image, tmp_path_factory):
    """The busybox layout with a second, arm64 manifest (same layer) under one index."""
    layout = str(tmp_path_factory.mktemp("multi") / "layout")
    shutil.copytree(busybox_image["layout"], layout)
    index = read_json(os.path.join(layout, "index.json"))
    amd64 = dict(index["manifests"][0])
    amd64.pop("annotations", None)
    manifest = read_json(os.path.join(layout, "blobs", *amd64["digest"].split(":")))
    config = read_json(os.path.join(layout, "blobs", *manifest["config"]["digest"].split(":")))
    config["architecture"] = "arm64"
    config["variant"] = "v8"
    manifest["config"].update(write_blob(layout, json.dumps(config).encode()))
    arm64 = dict(write_blob(layout, json.dumps(manifest).encode()), mediaType=amd64["mediaType"])
    amd64["platform"] = {"os": "linux", "architecture": "amd64"}
    arm64["platform"] = {"os": "linux", "architecture": "arm64", "variant": "v8"}
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [amd64, arm64]}
    descriptor = write_blob(layout, json.dumps(inner).encode())
    descriptor["mediaType"] = inner["mediaType"]
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
    index["manifests"] = [descriptor]
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    return f"oci:{layout}:multi"


def test_index_picks_amd64_by_default(builder, multi_platform, tmp_path):
    out = tmp_path / "root"
    builder.build(multi_platform, out, "--format", "dir")
    assert elf_machine(out / "sbin/ember-init") == EM_X86_64


def test_index_picks_arm64(builder, multi_platform, ember_bin_dir, tmp_path):
    arm64_bin = os.path.join(os.path.dirname(ember_bin_dir), "arm64", "bin")
    if not os.path.exists(os.path.join(arm64_bin, "ember-init")):
        pytest.skip("no arm64 build: run `make ARCH=arm64`")
    out = tmp_path / "root"
    builder.build(multi_platform, out, "--format", "dir", "--arch", "arm64")
    assert elf_machine(out / "sbin/ember-init") == EM_AARCH64
    assert elf_machine(out / "sbin/ember-agent") == EM_AARCH64
    out2 = tmp_path / "root2"
    builder.build(multi_platform, out2, "--format", "dir", "--platform", "linux/arm64/v8")
    assert elf_machine(out2 / "sbin/ember-init") == EM_AARCH64


def test_wrong_architecture_binaries_refused(builder, multi_platform, ember_bin_dir,
                                            tmp_path):
    proc = builder.build(multi_platform, tmp_path / "x.ext4", "--arch", "arm64",
                         "--ember-bin", ember_bin_dir, check=False)
    assert proc.returncode == 1
    assert "not for arm64" in proc.stderr
    assert not (tmp_path / "x.ext4").exists()


def test_docker_oci_based_archive(builder, busybox_image, tmp_path):
    """Newer Docker writes an OCI layout plus a manifest.json naming blobs/sha256/HEX; its
    layers here stay gzip-compressed, so the diff_ids are checked after decompression."""
    layout = busybox_image["layout"]
    index = read_json(os.path.join(layout, "index.json"))
    manifest = read_json(os.path.join(layout, "blobs",
                                      *index["manifests"][0]["digest"].split(":")))
    docker_manifest = [{
        "Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
        "RepoTags": ["docker.io/library/busybox:oci"],
        "Layers": ["blobs/sha256/" + l["digest"].split(":")[1] for l in manifest["layers"]],
    }]
    archive = tmp_path / "docker-oci.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(os.path.join(layout, name), arcname=name)
        data = json.dumps(docker_manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "root"
    builder.build(f"docker-archive:{archive}:busybox:oci", out, "--format", "dir")
    oracle = snapshot(unpack(busybox_image["oci"].split(":", 1)[1], str(tmp_path / "b")))
    assert diff_snapshots(oracle, snapshot(str(out), skip=SKIP | {"lost+found"})) == []


def test_progress_on_terminal_only(rootfs_bin, busybox_image, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    piped = subprocess.run([rootfs_bin, "build", "-o", tmp_path / "a.ext4",
                            busybox_image["oci"]], capture_output=True, text=True, env=env)
    assert piped.returncode == 0
    assert piped.stderr == ""

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TMPDIR"] = str(tmp_path)
        os.execv(rootfs_bin, [rootfs_bin, "build", "-o", str(tmp_path / "b.ext4"),
                              busybox_image["oci"]])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"verifying" in output
    assert b"layer 1/1" in output
    assert b"\r" in output


def test_docker_legacy_layout_with_linked_layer(builder, busybox_image, tmp_path):
    """docker save's legacy layout: ID/layer.tar, HEX.json, and a layer stored once with
    a symlink where a second image shares it."""
    unpacked = tmp_path / "docker"
    unpacked.mkdir()
    archive = busybox_image["docker-archive"].split(":", 1)[1]
    subprocess.run(["tar", "-xf", archive, "-C", unpacked], check=True)
    manifest = read_json(unpacked / "manifest.json")
    layer = manifest[0]["Layers"][0]
    (unpacked / "0a1b").mkdir()
    os.rename(unpacked / layer, unpacked / "0a1b" / "layer.tar")
    (unpacked / "0a1b" / "VERSION").write_text("1.0")
    (unpacked / "9f8e").mkdir()
    os.symlink("../0a1b/layer.tar", unpacked / "9f8e" / "layer.tar")
    manifest[0]["Layers"] = ["9f8e/layer.tar"]
    with open(unpacked / "manifest.json", "w") as f:
        json.dump(manifest, f)
    legacy = tmp_path / "legacy.tar"
    subprocess.run(["tar", "-cf", legacy, "-C", unpacked, "."], check=True)
    out = tmp_path / "root"
    builder.build(f"docker-archive:{legacy}", out, "--format", "dir")
    oracle = snapshot(unpack(busybox_image["oci"].split(":", 1)[1], str(tmp_path / "b")))
    assert diff_snapshots(oracle, snapshot(str(out), skip=SKIP | {"lost+found"})) == []


@pytest.mark.parametrize("compression, media_suffix", [("zstd", "+zstd"), (None, "")])
def test_layer_compression_from_media_type(builder, busybox_image, tmp_path, compression,
                                           media_suffix):
    """The busybox layer recompressed (zstd) or stored plain, with the matching media type."""
    layout = tmp_path / "layout"
    shutil.copytree(busybox_image["layout"], layout)
    index = read_json(layout / "index.json")
    manifest_path = layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = read_json(manifest_path)
    gz_path = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    tar = subprocess.run(["gzip", "-dc", gz_path], capture_output=True, check=True).stdout
    if compression:
        tar = subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True,
                             check=True).stdout
    manifest["layers"][0].update(write_blob(str(layout), tar))
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar" + media_suffix
    index["manifests"][0].update(write_blob(str(layout), json.dumps(manifest).encode()))
    with open(layout / "index.json", "w") as f:
        json.dump(index, f)
    out = tmp_path / "root"
    builder.build(f"oci:{layout}:bb", out, "--format", "dir")
    oracle = snapshot(unpack(busybox_image["oci"].split(":", 1)[1], str(tmp_path / "b")))
    assert diff_snapshots(oracle, snapshot(str(out), skip=SKIP | {"lost+found"})) == []
