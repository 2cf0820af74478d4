"""Copying trees in and out: exact metadata, links, FIFOs, docker cp's path
rules, /proc files and tar streams."""
import io
import os
import subprocess
import tarfile

from tree_snapshot import file_sha256, snapshot


def make_tree(root):
    """The reference tree: every kind of entry the copy must keep."""
    os.makedirs(os.path.join(root, "private", "empty"))
    with open(os.path.join(root, "run.sh"), "w") as f:
        f.write("#!/bin/sh\necho hello\n")
    os.chmod(os.path.join(root, "run.sh"), 0o755)
    with open(os.path.join(root, "secret"), "w") as f:
        f.write("token\n")
    os.chmod(os.path.join(root, "secret"), 0o600)
    os.chmod(os.path.join(root, "private"), 0o700)
    os.symlink("run.sh", os.path.join(root, "relative-link"))
    os.symlink("missing/target", os.path.join(root, "dangling-link"))
    with open(os.path.join(root, "first"), "wb") as f:
        f.write(os.urandom(100000))
    os.link(os.path.join(root, "first"), os.path.join(root, "private", "second"))
    with open(os.path.join(root, "setuid-tool"), "w") as f:
        f.write("tool\n")
    os.chown(os.path.join(root, "setuid-tool"), 1234, 5678)
    os.chmod(os.path.join(root, "setuid-tool"), 0o4755)
    os.mkfifo(os.path.join(root, "pipe"))
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(1600000000123456789, 1600000000123456789),
                     follow_symlinks=False)
    os.utime(root, ns=(1600000000000000000, 1600000000000000000))


def test_tree_round_trip_keeps_metadata(cp, work_dir):
    src = os.path.join(work_dir, "src")
    make_tree(src)
    guest = os.path.join(work_dir, "guest")
    os.mkdir(guest)

    result = cp("-a", src, ":" + guest + "/")
    assert result.returncode == 0, result.stderr
    assert b"skipped FIFO 'pipe'" in result.stderr
    expected = snapshot(src, skip={"pipe"})
    assert snapshot(os.path.join(guest, "src")) == expected

    back = os.path.join(work_dir, "back")
    result = cp("-a", "--keep-special-bits", ":" + os.path.join(guest, "src"), back)
    assert result.returncode == 0, result.stderr
    assert snapshot(back) == expected
    assert not os.path.exists(os.path.join(guest, "src", "pipe"))


def test_copy_out_drops_special_bits_and_owners(cp, work_dir):
    src = os.path.join(work_dir, "src")
    make_tree(src)
    result = cp("-a", src, ":" + os.path.join(work_dir, "guest"))
    assert result.returncode == 0, result.stderr

    back = os.path.join(work_dir, "plain")
    result = cp(":" + os.path.join(work_dir, "guest"), back)
    assert result.returncode == 0, result.stderr
    st = os.stat(os.path.join(back, "setuid-tool"))
    assert oct(st.st_mode & 0o7777) == oct(0o755)
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert file_sha256(os.path.join(back, "first")) == file_sha256(os.path.join(src, "first"))


def test_docker_path_rules(cp, work_dir):
    src = os.path.join(work_dir, "dir")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "sub", "a.txt"), "w") as f:
        f.write("a\n")
    guest = os.path.join(work_dir, "guest")
    os.mkdir(guest)

    # An existing directory receives the source under its own name.
    assert cp(src, ":" + guest).returncode == 0
    assert os.path.isfile(os.path.join(guest, "dir", "sub", "a.txt"))
    # A missing destination becomes the copy itself.
    assert cp(src, ":" + os.path.join(guest, "renamed")).returncode == 0
    assert os.path.isfile(os.path.join(guest, "renamed", "sub", "a.txt"))
    # SRC/. copies the contents only.
    assert cp(src + "/.", ":" + guest).returncode == 0
    assert os.path.isfile(os.path.join(guest, "sub", "a.txt"))
    # A file onto an existing file replaces it.
    with open(os.path.join(guest, "target.txt"), "w") as f:
        f.write("old\n")
    assert cp(os.path.join(src, "sub", "a.txt"), ":" + os.path.join(guest, "target.txt")).returncode == 0
    with open(os.path.join(guest, "target.txt")) as f:
        assert f.read() == "a\n"
    # A destination with a trailing slash must be an existing directory.
    result = cp(src, ":" + os.path.join(guest, "missing") + "/")
    assert result.returncode != 0
    assert b"does not exist" in result.stderr
    # Guest paths are absolute.
    result = cp(src, ":relative/path")
    assert result.returncode != 0
    assert b"must be absolute" in result.stderr

    # The same rules on the host side of copy-out.
    out = os.path.join(work_dir, "out")
    os.mkdir(out)
    assert cp(":" + os.path.join(guest, "dir", "sub", "a.txt"), out).returncode == 0
    assert os.path.isfile(os.path.join(out, "a.txt"))
    assert cp(":" + os.path.join(guest, "dir") + "/.", out).returncode == 0
    assert os.path.isfile(os.path.join(out, "sub", "a.txt"))
    result = cp(":" + os.path.join(guest, "dir"), os.path.join(out, "nope") + "/")
    assert result.returncode != 0


def test_proc_file_read_to_end(cp, work_dir):
    dest = os.path.join(work_dir, "cpuinfo")
    result = cp(":/proc/cpuinfo", dest)
    assert result.returncode == 0, result.stderr
    expected = subprocess.run(["cat", "/proc/cpuinfo"], capture_output=True, check=True).stdout
    with open(dest, "rb") as f:
        assert f.read() == expected
    assert len(expected) > 0


def test_sysfs_file_read_to_end(cp, work_dir):
    """sysfs reports 4096 bytes and no blocks for a file of a few bytes."""
    source = "/sys/devices/system/cpu/online"
    st = os.stat(source)
    assert st.st_size == 4096
    dest = os.path.join(work_dir, "online")
    result = cp(":" + source, dest)
    assert result.returncode == 0, result.stderr
    with open(source, "rb") as f:
        expected = f.read()
    with open(dest, "rb") as f:
        assert f.read() == expected
    assert os.path.getsize(dest) == len(expected)


def test_missing_source_names_path(cp, work_dir):
    result = cp(":" + os.path.join(work_dir, "absent"), os.path.join(work_dir, "x"))
    assert result.returncode != 0
    assert os.path.join(work_dir, "absent").encode() in result.stderr
    assert not os.path.exists(os.path.join(work_dir, "x"))


def test_tar_stream_out(cp, work_dir):
    src = os.path.join(work_dir, "src")
    make_tree(src)
    long_name = "d" * 60 + "/" + "f" * 120
    os.makedirs(os.path.join(src, "d" * 60))
    with open(os.path.join(src, long_name), "wb") as f:
        f.write(b"long name\n")
    guest = os.path.join(work_dir, "guest")
    assert cp("-a", src, ":" + guest).returncode == 0

    result = cp(":" + guest, "-")
    assert result.returncode == 0, result.stderr
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["guest/run.sh"].mode == 0o755
        assert members["guest/secret"].mode == 0o600
        assert members["guest/setuid-tool"].mode == 0o4755
        assert members["guest/relative-link"].issym()
        assert members["guest/relative-link"].linkname == "run.sh"
        assert members["guest/dangling-link"].linkname == "missing/target"
        hardlinks = [m for m in members.values() if m.islnk()]
        assert len(hardlinks) == 1
        assert members["guest/" + long_name].size == 10
        assert archive.extractfile("guest/" + long_name).read() == b"long name\n"
        assert "guest/private/empty" in members
        assert members["guest/setuid-tool"].uid == 1234


def test_tar_stream_in(cp, work_dir):
    buf = io.BytesIO()
    long_name = "x" * 150
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind in (("top", tarfile.DIRTYPE), ("top/empty", tarfile.DIRTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o750
            archive.addfile(info)
        for name, content, mode in (("top/a.txt", b"alpha\n", 0o640),
                                    ("top/" + long_name, b"long\n", 0o600)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            info.mtime = 1500000000
            archive.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("top/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "a.txt"
        archive.addfile(link)
        hard = tarfile.TarInfo("top/hard")
        hard.type = tarfile.LNKTYPE
        hard.linkname = "top/a.txt"
        archive.addfile(hard)
    guest = os.path.join(work_dir, "guest")
    os.mkdir(guest)

    result = cp("-", ":" + guest, input=buf.getvalue())
    assert result.returncode == 0, result.stderr
    top = os.path.join(guest, "top")
    with open(os.path.join(top, "a.txt"), "rb") as f:
        assert f.read() == b"alpha\n"
    assert oct(os.stat(os.path.join(top, "a.txt")).st_mode & 0o7777) == oct(0o640)
    assert os.stat(os.path.join(top, "a.txt")).st_mtime == 1500000000
    with open(os.path.join(top, long_name), "rb") as f:
        assert f.read() == b"long\n"
    assert os.readlink(os.path.join(top, "link")) == "a.txt"
    assert os.stat(os.path.join(top, "hard")).st_ino == os.stat(os.path.join(top, "a.txt")).st_ino
    assert oct(os.stat(os.path.join(top, "empty")).st_mode & 0o7777) == oct(0o750)


def test_tar_stream_rejects_escaping_member(cp, work_dir):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo("../evil")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    guest = os.path.join(work_dir, "guest")
    os.mkdir(guest)
    result = cp("-", ":" + guest, input=buf.getvalue())
    assert result.returncode != 0
    assert b"invalid entry name '../evil'" in result.stderr
    assert not os.path.exists(os.path.join(work_dir, "evil"))


def test_copy_out_warns_about_fifo(cp, work_dir):
    guest = os.path.join(work_dir, "guest")
    os.mkdir(guest)
    os.mkfifo(os.path.join(guest, "pipe"))
    with open(os.path.join(guest, "file"), "w") as f:
        f.write("x\n")
    back = os.path.join(work_dir, "back")

    result = cp(":" + guest, back)
    assert result.returncode == 0, result.stderr
    assert b"warning: skipped FIFO 'pipe'" in result.stderr
    assert sorted(os.listdir(back)) == ["file"]


def test_symlink_source_copied_as_link_unless_followed(cp, work_dir):
    target = os.path.join(work_dir, "target.txt")
    with open(target, "w") as f:
        f.write("content\n")
    link = os.path.join(work_dir, "link")
    os.symlink("target.txt", link)

    as_link = os.path.join(work_dir, "as-link")
    assert cp(":" + link, as_link).returncode == 0
    assert os.readlink(as_link) == "target.txt"

    followed = os.path.join(work_dir, "followed")
    assert cp("-L", ":" + link, followed).returncode == 0
    assert not os.path.islink(followed)
    with open(followed) as f:
        assert f.read() == "content\n"


def test_tar_stream_in_creates_missing_parents(cp, work_dir):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo("a/b/c.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
        later = tarfile.TarInfo("a/b")
        later.type = tarfile.DIRTYPE
        later.mode = 0o711
        archive.addfile(later)
    guest = os.path.join(work_dir, "guest")
    os.makedirs(os.path.join(guest, "a"))
    os.chmod(os.path.join(guest, "a"), 0o700)

    result = cp("-", ":" + guest, input=buf.getvalue())
    assert result.returncode == 0, result.stderr
    with open(os.path.join(guest, "a", "b", "c.txt"), "rb") as f:
        assert f.read() == b"abc"
    # An existing parent keeps its mode; a listed directory gets its own.
    assert oct(os.stat(os.path.join(guest, "a")).st_mode & 0o7777) == oct(0o700)
    assert oct(os.stat(os.path.join(guest, "a", "b")).st_mode & 0o7777) == oct(0o711)
