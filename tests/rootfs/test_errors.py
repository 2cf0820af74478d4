"""Bad input: corrupt, truncated and missing blobs, unknown media types, bad references
and options. Each must fail with a message naming the problem and leave no output."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest


def layout_copy(busybox_image, tmp_path):
    layout = tmp_path / "layout"
    shutil.copytree(busybox_image["layout"], layout)
    return layout


def read_json(path):
    with open(path) as f:
        return json.load(f)


def blob(layout, digest):
    algorithm, hex_digest = digest.split(":")
    return layout / "blobs" / algorithm / hex_digest


def manifest_of(layout):
    descriptor = read_json(layout / "index.json")["manifests"][0]
    return descriptor, read_json(blob(layout, descriptor["digest"]))


def replace_manifest(layout, manifest):
    """Writes manifest as a new blob and points index.json at it."""
    data = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob(layout, digest).write_bytes(data)
    index = read_json(layout / "index.json")
    index["manifests"][0]["digest"] = digest
    index["manifests"][0]["size"] = len(data)
    (layout / "index.json").write_text(json.dumps(index))


def layer_blob(layout):
    return blob(layout, manifest_of(layout)[1]["layers"][0]["digest"])


def build_fails(builder, tmp_path, reference, *args):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = builder.build(reference, out_dir / "root.ext4", *args, check=False)
    assert proc.returncode == 1, proc.stderr
    assert os.listdir(out_dir) == [], "a failed build left output behind"
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith("ember-rootfs.")]
    assert leftovers == [], "a failed build left its staging directory behind"
    return proc.stderr


def test_corrupt_layer_blob(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    path = layer_blob(layout)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    message = build_fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "digest mismatch for layer 1" in message
    assert "expected sha256:" in message


def test_truncated_layer_blob(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    path = layer_blob(layout)
    path.write_bytes(path.read_bytes()[:-10])
    message = build_fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "expected" in message
    assert "from its descriptor" in message


def test_missing_layer_blob(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    digest = manifest_of(layout)[1]["layers"][0]["digest"]
    os.unlink(blob(layout, digest))
    message = build_fails(builder, tmp_path, f"oci:{layout}:bb")
    assert f"blob {digest} not found" in message


def test_missing_config_blob(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    digest = manifest_of(layout)[1]["config"]["digest"]
    os.unlink(blob(layout, digest))
    message = build_fails(builder, tmp_path, f"oci:{layout}:bb")
    assert f"blob {digest} not found" in message


def test_unknown_layer_media_type(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    manifest = manifest_of(layout)[1]
    manifest["layers"][0]["mediaType"] = "application/vnd.example.layer.v1.squashfs"
    replace_manifest(layout, manifest)
    message = build_fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "unsupported layer media type 'application/vnd.example.layer.v1.squashfs'" in message


def test_corrupt_docker_archive_layer(builder, busybox_image, tmp_path):
    unpacked = tmp_path / "docker"
    unpacked.mkdir()
    archive = busybox_image["docker-archive"].split(":", 1)[1]
    subprocess.run(["tar", "-xf", archive, "-C", unpacked], check=True)
    manifest = read_json(unpacked / "manifest.json")
    layer = unpacked / manifest[0]["Layers"][0]
    data = bytearray(layer.read_bytes())
    data[1000] ^= 0xFF
    layer.write_bytes(bytes(data))
    broken = tmp_path / "broken.tar"
    subprocess.run(["tar", "-cf", broken, "-C", unpacked, "."], check=True)
    message = build_fails(builder, tmp_path, f"docker-archive:{broken}")
    assert "digest mismatch for layer 1" in message


def test_unknown_tag(builder, busybox_image, tmp_path):
    message = build_fails(builder, tmp_path, f"oci:{busybox_image['layout']}:nope")
    assert "tag 'nope' not found" in message


def test_missing_platform(builder, busybox_image, tmp_path):
    layout = layout_copy(busybox_image, tmp_path)
    index = read_json(layout / "index.json")
    # Wrap the image in a multi-platform index that offers only amd64.
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [dict(index["manifests"][0],
                                platform={"os": "linux", "architecture": "amd64"})]}
    inner["manifests"][0].pop("annotations", None)
    data = json.dumps(inner).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob(layout, digest).write_bytes(data)
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": digest, "size": len(data),
                           "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    (layout / "index.json").write_text(json.dumps(index))
    message = build_fails(builder, tmp_path, f"oci:{layout}:multi", "--arch", "arm64")
    assert "has no image for linux/arm64: it offers linux/amd64" in message
    # The amd64 entry of the same index builds.
    out = tmp_path / "ok.ext4"
    builder.build(f"oci:{layout}:multi", out, "--platform", "linux/amd64")
    assert out.exists()


@pytest.mark.parametrize("args, text", [
    (["build", "-o", "x", "docker://busybox"], "invalid image reference 'docker://busybox'"),
    (["build", "-o", "x", "--format", "qcow2", "oci:x"], "invalid --format 'qcow2'"),
    (["build", "-o", "x", "--size", "12Q", "oci:x"], "invalid --size '12Q'"),
    (["build", "-o", "x", "--arch", "riscv64", "oci:x"], "invalid --arch 'riscv64'"),
    (["build", "oci:x"], "missing -o OUTPUT"),
    (["build", "-o", "x", "--modules", "vsock", "oci:x"], "--modules needs --kernel-modules"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_usage_errors(builder, tmp_path, args, text):
    proc = builder.run(*args, check=False)
    assert proc.returncode in (1, 2), proc.stderr
    assert text in proc.stderr
    assert not (tmp_path / "x").exists()


def test_bad_override_values(builder, busybox_image, tmp_path):
    for args, text in ((["--env", "NOEQUALS"], "invalid --env 'NOEQUALS'"),
                       (["--entrypoint", "[1, 2]"], "invalid --entrypoint '[1, 2]'"),
                       (["--start-mode", "later"], "invalid --start-mode 'later'"),
                       (["--listen", "udp:1"], "invalid --listen 'udp:1'"),
                       (["--workdir", "relative"], "invalid working directory 'relative'")):
        proc = builder.build(busybox_image["oci"], tmp_path / "x.ext4", *args, check=False)
        assert proc.returncode == 1, args
        assert text in proc.stderr, args
        assert not (tmp_path / "x.ext4").exists()


def test_existing_output_dir_refused(builder, busybox_image, tmp_path):
    out = tmp_path / "root"
    out.mkdir()
    (out / "mine").write_text("keep")
    proc = builder.build(busybox_image["oci"], out, "--format", "dir", check=False)
    assert proc.returncode == 1
    assert "already exists" in proc.stderr
    assert os.listdir(out) == ["mine"]
