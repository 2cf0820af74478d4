"""Layer semantics: whiteouts, opaque directories, hardlinks, replaced links and files,
special permission bits, capabilities and hostile entries, on layers built with GNU tar
(and Python's tarfile where tar cannot write the entry) and stacked by umoci."""
import io
import os
import stat
import subprocess
import tarfile

import pytest

from rootfs_images import (INJECTED, add_layer, debugfs, diff_snapshots, e2fsck_clean,
                           loop_mount, new_layout, set_config, snapshot, tar_layer, unpack)

SKIP = INJECTED | {"proc", "sys", "dev", "run", "tmp", "sbin", "etc/ember", "etc"}


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def append_entries(tar_path, entries):
    """Appends raw entries (TarInfo, bytes or None) to an uncompressed layer tar."""
    with tarfile.open(tar_path, "a", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def entry(name, kind=tarfile.REGTYPE, data=None, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.mtime = 1700000000
    if data is not None:
        info.size = len(data)
    return info, data


@pytest.fixture(scope="module")
def edge_image(tmp_path_factory):
    base = tmp_path_factory.mktemp("edge")
    image = new_layout(base / "oci", "edge")

    # Layer 1: the lower contents that later layers change.
    l1 = base / "l1"
    write(l1 / "opq/old1", "old1")
    write(l1 / "opq/sub/old2", "old2")
    write(l1 / "gone/inner", "inner")
    write(l1 / "x", "root x")
    write(l1 / "sub/x", "sub x")
    write(l1 / "data/orig", "orig")
    write(l1 / "target_file", "target")
    os.symlink("target_file", l1 / "lnk")
    write(l1 / "f2d", "a file first")
    write(l1 / "bin/su", "setuid", 0o4755)
    write(l1 / "bin/sg", "setgid", 0o2755)
    write(l1 / "bin/ping", "capable", 0o755)
    subprocess.run(["setcap", "cap_net_raw+ep", str(l1 / "bin/ping")], check=True)
    os.chown(l1 / "bin/sg", 0, 42)
    os.chmod(l1 / "bin/sg", 0o2755)  # chown cleared the setgid bit
    tar_layer(base / "l1.tar", l1, ".")
    add_layer(image, base / "l1.tar")

    # Layer 2: the opaque marker comes after a new entry of the same directory.
    l2 = base / "l2"
    write(l2 / "opq/new1", "new1")
    write(l2 / "opq/.wh..wh..opq", "")
    write(l2 / ".wh.gone", "")
    write(l2 / ".wh.x", "")
    write(l2 / "lnk", "replaced")
    write(l2 / "f2d/child", "child")
    tar_layer(base / "l2.tar", l2, "opq/new1", "opq/.wh..wh..opq", ".wh.gone", ".wh.x", "lnk",
              "f2d", "f2d/child", extra=["--no-recursion"])
    # A hardlink to a file of the layer below: tar can only write one to a member of the
    # same archive, so this entry comes from tarfile.
    append_entries(base / "l2.tar", [entry("data/link", tarfile.LNKTYPE,
                                           linkname="data/orig")])
    add_layer(image, base / "l2.tar")

    # Layer 3: re-create the whited-out directory; remove the hardlink's first name; a
    # hardlink pair whose first name the next layer removes.
    l3 = base / "l3"
    write(l3 / "gone/new", "new")
    write(l3 / "data/.wh.orig", "")
    write(l3 / "h/a", "shared")
    os.link(l3 / "h/a", l3 / "h/b")
    tar_layer(base / "l3.tar", l3, "gone", "data/.wh.orig", "h")
    add_layer(image, base / "l3.tar")

    l4 = base / "l4"
    write(l4 / "h/.wh.a", "")
    tar_layer(base / "l4.tar", l4, "h/.wh.a")
    add_layer(image, base / "l4.tar")
    set_config(image, "--config.cmd", "/bin/su")
    return {"image": image, "ref": f"oci:{image}", "base": base}


def check_edge_tree(root):
    """The expected result of the four layers, in a directory or a mounted image."""
    def read(name):
        with open(os.path.join(root, name)) as f:
            return f.read()

    assert sorted(os.listdir(os.path.join(root, "opq"))) == ["new1"]
    assert sorted(os.listdir(os.path.join(root, "gone"))) == ["new"]
    assert not os.path.lexists(os.path.join(root, "x"))
    assert read("sub/x") == "sub x"
    assert not os.path.lexists(os.path.join(root, "data/orig"))
    assert read("data/link") == "orig"
    assert not os.path.islink(os.path.join(root, "lnk"))
    assert read("lnk") == "replaced"
    assert read("target_file") == "target"
    assert os.path.isdir(os.path.join(root, "f2d"))
    assert read("f2d/child") == "child"
    assert not os.path.lexists(os.path.join(root, "h/a"))
    assert read("h/b") == "shared"
    assert stat.S_IMODE(os.lstat(os.path.join(root, "bin/su")).st_mode) == 0o4755
    sg = os.lstat(os.path.join(root, "bin/sg"))
    assert stat.S_IMODE(sg.st_mode) == 0o2755
    assert sg.st_gid == 42
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            assert not name.startswith(".wh."), os.path.join(directory, name)


def test_edge_layers_dir(builder, edge_image, tmp_path):
    out = tmp_path / "root"
    builder.build(edge_image["ref"], out, "--format", "dir")
    check_edge_tree(str(out))
    caps = subprocess.run(["getcap", str(out / "bin/ping")], capture_output=True, text=True)
    assert "cap_net_raw=ep" in caps.stdout


def test_edge_layers_match_umoci(builder, edge_image, tmp_path):
    out = tmp_path / "root"
    builder.build(edge_image["ref"], out, "--format", "dir")
    oracle = snapshot(unpack(edge_image["image"], str(tmp_path / "bundle")), skip=SKIP)
    assert diff_snapshots(oracle, snapshot(str(out), skip=SKIP)) == []


def test_edge_layers_ext4(builder, edge_image, tmp_path):
    image = tmp_path / "root.ext4"
    builder.build(edge_image["ref"], image)
    ok, report = e2fsck_clean(image)
    assert ok, report
    assert "Mode:  04755" in debugfs(image, "stat /bin/su")
    assert "Mode:  02755" in debugfs(image, "stat /bin/sg")
    assert "security.capability" in debugfs(image, "ea_list /bin/ping")
    with loop_mount(image, tmp_path / "mnt") as mnt:
        check_edge_tree(mnt)
        caps = subprocess.run(["getcap", os.path.join(mnt, "bin/ping")], capture_output=True,
                              text=True)
        assert "cap_net_raw=ep" in caps.stdout
        assert os.stat(os.path.join(mnt, "h/b")).st_nlink == 1


def test_hardlinks_share_inode_in_ext4(builder, tmp_path):
    src = tmp_path / "src"
    write(src / "a", "same")
    os.link(src / "a", src / "b")
    image = new_layout(tmp_path / "oci", "t")
    tar_layer(tmp_path / "l.tar", src, "a", "b")
    add_layer(image, tmp_path / "l.tar")
    set_config(image, "--config.cmd", "/a")
    out = tmp_path / "root.ext4"
    builder.build(f"oci:{image}", out)
    with loop_mount(out, tmp_path / "mnt") as mnt:
        a, b = os.stat(os.path.join(mnt, "a")), os.stat(os.path.join(mnt, "b"))
        assert a.st_ino == b.st_ino
        assert a.st_nlink == 2


def test_device_nodes_kept(builder, tmp_path):
    layer = tmp_path / "dev.tar"
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, major, minor in (("dev/null", tarfile.CHRTYPE, 1, 3),
                                         ("dev/sda", tarfile.BLKTYPE, 8, 0),
                                         ("dev/big", tarfile.CHRTYPE, 300, 70000)):
            info, _ = entry(name, kind, mode=0o666)
            info.devmajor, info.devminor = major, minor
            tar.addfile(info)
        info, _ = entry("run/fifo", tarfile.FIFOTYPE)
        tar.addfile(info)
    image = new_layout(tmp_path / "oci", "t")
    add_layer(image, layer)
    set_config(image, "--config.cmd", "/bin/true")
    out = tmp_path / "root.ext4"
    builder.build(f"oci:{image}", out)
    ok, report = e2fsck_clean(out)
    assert ok, report
    with loop_mount(out, tmp_path / "mnt") as mnt:
        for name, test, major, minor in (("dev/null", stat.S_ISCHR, 1, 3),
                                         ("dev/sda", stat.S_ISBLK, 8, 0),
                                         ("dev/big", stat.S_ISCHR, 300, 70000)):
            st = os.lstat(os.path.join(mnt, name))
            assert test(st.st_mode), name
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), name
        assert stat.S_ISFIFO(os.lstat(os.path.join(mnt, "run/fifo")).st_mode)


@pytest.fixture
def hostile_image(tmp_path):
    """Layers that try to write outside the root; every canary sits in tmp_path, and no
    entry climbs above tmp_path even if the builder followed it."""
    canary_dir = tmp_path / "canary_dir"
    canary_dir.mkdir()
    (canary_dir / "keep").write_text("keep")
    canary_file = tmp_path / "canary_file"
    canary_file.write_text("untouched")
    absolute_name = str(tmp_path / "abs_canary").lstrip("/")

    l1 = tmp_path / "l1.tar"
    with tarfile.open(l1, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in (entry("escape", tarfile.SYMTYPE, linkname=str(canary_dir)),
                           entry("escape_file", tarfile.SYMTYPE, linkname=str(canary_file)),
                           entry("up", tarfile.SYMTYPE, linkname="../.."),
                           entry("bin/true", data=b"#!/bin/sh\n", mode=0o755)):
            tar.addfile(info, io.BytesIO(data) if data else None)
    l2 = tmp_path / "l2.tar"
    with tarfile.open(l2, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in (entry("../x", data=b"dotdot"),
                           entry("/" + absolute_name, data=b"absolute"),
                           entry("escape/pwned", data=b"through a dir link"),
                           entry("escape_file", data=b"replaces the link"),
                           entry("up/pwned2", data=b"through a parent link"),
                           entry("hl", tarfile.LNKTYPE, linkname="../../canary_file"),
                           entry("hl2", tarfile.LNKTYPE, linkname=str(canary_file))):
            tar.addfile(info, io.BytesIO(data) if data else None)
    image = new_layout(tmp_path / "oci", "evil")
    add_layer(image, l1)
    add_layer(image, l2)
    set_config(image, "--config.cmd", "/bin/true")
    return {"ref": f"oci:{image}", "canary_dir": canary_dir, "canary_file": canary_file,
            "absolute": absolute_name}


def check_nothing_escaped(tmp_path, hostile):
    assert sorted(os.listdir(hostile["canary_dir"])) == ["keep"]
    assert hostile["canary_file"].read_text() == "untouched"
    assert os.stat(hostile["canary_file"]).st_nlink == 1
    for name in ("x", "pwned2", "abs_canary", "out/x", "out/pwned2"):
        assert not os.path.lexists(tmp_path / name), name


@pytest.mark.parametrize("fmt", ["dir", "ext4", "initramfs"])
def test_hostile_entries_stay_inside(builder, hostile_image, tmp_path, fmt):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "root"
    proc = builder.build(hostile_image["ref"], out, "--format", fmt)
    check_nothing_escaped(tmp_path, hostile_image)
    assert "skipped hardlink 'hl2'" in proc.stderr or "skipped hardlink 'hl'" in proc.stderr
    if fmt != "dir":
        return
    # Each hostile name landed inside the root, resolved as if the root were "/".
    assert (out / "x").read_text() == "dotdot"
    assert (out / hostile_image["absolute"]).read_text() == "absolute"
    inside = out / str(hostile_image["canary_dir"]).lstrip("/")
    assert (inside / "pwned").read_text() == "through a dir link"
    assert (out / "pwned2").read_text() == "through a parent link"
    assert not os.path.islink(out / "escape_file")
    assert (out / "escape_file").read_text() == "replaces the link"


def test_timestamps_outside_32_bits(builder, tmp_path):
    times = {"past": -315619200, "now": 1700000000, "future": 4102444800}
    layer = tmp_path / "times.tar"
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, mtime in times.items():
            info, data = entry(name, data=b"t")
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    image = new_layout(tmp_path / "oci", "t")
    add_layer(image, layer)
    set_config(image, "--config.cmd", "/now")
    out = tmp_path / "root.ext4"
    builder.build(f"oci:{image}", out)
    ok, report = e2fsck_clean(out)
    assert ok, report
    with loop_mount(out, tmp_path / "mnt") as mnt:
        for name, mtime in times.items():
            assert os.stat(os.path.join(mnt, name)).st_mtime == mtime, name


def test_sparse_and_zero_files(builder, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.truncate(64 * 1024 * 1024)
        f.seek(32 * 1024 * 1024)
        f.write(b"middle")
    (src / "zeros").write_bytes(bytes(1024 * 1024))
    (src / "tail").write_bytes(b"x" * 5000 + bytes(9000))
    image = new_layout(tmp_path / "oci", "t")
    add_layer(image, tar_layer(tmp_path / "l.tar", src, ".", extra=["--sparse"]))
    set_config(image, "--config.cmd", "/tail")
    out = tmp_path / "root.ext4"
    builder.build(f"oci:{image}", out)
    ok, report = e2fsck_clean(out)
    assert ok, report
    # Zero blocks are holes: the 64 MiB file takes one data block.
    assert "Blockcount: 8\n" in debugfs(out, "stat /sparse")
    with loop_mount(out, tmp_path / "mnt") as mnt:
        for name in ("sparse", "zeros", "tail"):
            with open(os.path.join(mnt, name), "rb") as built, open(src / name, "rb") as orig:
                assert built.read() == orig.read(), name
