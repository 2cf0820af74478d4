"""ember-rootfs's named limits: each is enforced with a message that names it, and a build
that hits one leaves no output."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from rootfs_images import add_layer, new_layout, run, set_config


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


@pytest.fixture
def layout(busybox_image, tmp_path):
    path = tmp_path / "layout"
    shutil.copytree(busybox_image["layout"], path)
    return path


def manifest_of(layout):
    index = read_json(layout / "index.json")
    digest = index["manifests"][0]["digest"].split(":")[1]
    return index, read_json(layout / "blobs" / "sha256" / digest)


def point_index_at(layout, index, descriptor):
    index["manifests"][0].update(descriptor)
    with open(layout / "index.json", "w") as f:
        json.dump(index, f)


def fails(builder, tmp_path, reference, *args, status=1):
    out = tmp_path / "out.ext4"
    proc = builder.build(reference, out, *args, check=False)
    assert proc.returncode == status, proc.stderr
    assert not out.exists()
    return proc.stderr


def test_json_size_limit(builder, layout, tmp_path):
    index = read_json(layout / "index.json")
    with open(layout / "index.json", "w") as f:
        f.write(json.dumps(index) + " " * (16 * 1024 * 1024))
    message = fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "over the 16777216-byte limit for JSON documents" in message


def test_index_depth_limit(builder, layout, tmp_path):
    index, _ = manifest_of(layout)
    descriptor = dict(index["manifests"][0])
    descriptor.pop("annotations", None)
    descriptor["platform"] = {"os": "linux", "architecture": "amd64"}
    for _ in range(5):
        nested = {"schemaVersion": 2,
                  "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": [descriptor]}
        descriptor = dict(write_blob(str(layout), json.dumps(nested).encode()),
                          mediaType=nested["mediaType"],
                          platform={"os": "linux", "architecture": "amd64"})
    descriptor.pop("platform")
    point_index_at(layout, index, descriptor)
    message = fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "nest deeper than 4 levels" in message


def test_layer_count_limit(builder, layout, tmp_path):
    index, manifest = manifest_of(layout)
    manifest["layers"] = manifest["layers"] * 257
    point_index_at(layout, index, write_blob(str(layout), json.dumps(manifest).encode()))
    message = fails(builder, tmp_path, f"oci:{layout}:bb")
    assert "257 layers, over the limit of 256" in message


@pytest.mark.parametrize("size", ["1M", "17T"])
def test_ext4_size_limits(builder, busybox_image, tmp_path, size):
    message = fails(builder, tmp_path, busybox_image["oci"], "--size", size)
    assert "it must be between 8388608 and 17592186044416" in message


def test_override_count_limit(builder, busybox_image, tmp_path):
    args = []
    for i in range(257):
        args += ["--env", f"V{i}=1"]
    message = fails(builder, tmp_path, busybox_image["oci"], *args, status=2)
    assert "too many --env options (the limit is 256)" in message


def test_token_size_limit(builder, busybox_image, tmp_path):
    token = tmp_path / "token"
    with open(token, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)
    message = fails(builder, tmp_path, busybox_image["oci"], "--agent-token", token)
    assert "failed to read the agent token" in message
    assert "too large" in message


def test_module_size_limit(builder, busybox_image, tmp_path):
    drivers = tmp_path / "lib/modules/6.1.0-test/kernel/drivers"
    drivers.mkdir(parents=True)
    zeros = tmp_path / "zeros"
    with open(zeros, "wb") as f:
        f.truncate(257 * 1024 * 1024)
    run(["zstd", "-q", "-1", "-o", str(drivers / "huge.ko.zst"), str(zeros)])
    zeros.unlink()
    message = fails(builder, tmp_path, busybox_image["oci"], "--kernel-modules", tmp_path,
                    "--modules", "huge")
    assert "decompresses to more than 268435456 bytes" in message


def test_unknown_xattr_namespace_skipped(builder, tmp_path):
    layer = tmp_path / "l.tar"
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.size = 1
        info.pax_headers = {"SCHILY.xattr.foo.bar": "x", "SCHILY.xattr.user.kept": "y"}
        tar.addfile(info, io.BytesIO(b"f"))
    image = new_layout(tmp_path / "oci", "t")
    add_layer(image, layer)
    set_config(image, "--config.cmd", "/f")
    out = tmp_path / "root.ext4"
    proc = builder.build(f"oci:{image}", out)
    assert "skipped extended attribute 'foo.bar' of 'f'" in proc.stderr
    listing = subprocess.run(["debugfs", "-R", "ea_list /f", str(out)], capture_output=True,
                             text=True, check=True).stdout
    assert "user.kept" in listing
    assert "foo.bar" not in listing


def test_module_count_limit(builder, busybox_image, tmp_path):
    drivers = tmp_path / "lib/modules/6.1.0-test/kernel/drivers"
    drivers.mkdir(parents=True)
    for i in range(16385):
        (drivers / f"m{i}.ko").touch()
    message = fails(builder, tmp_path, busybox_image["oci"], "--kernel-modules", tmp_path,
                    "--modules", "m1")
    assert "contains more than 16384 modules, the limit" in message
