"""copy-out against a fake agent that sends what a compromised guest could:
escaping names, absolute names, a symlink and then a file through it, a
device node, a setuid file and oversized lengths. emberctl must write
nothing outside the destination and no special file."""
import os
import stat
import subprocess

import pytest

from copy_wire import (A_DATA, A_END, A_ENTRY, A_FILE_END, A_RESULT, DIRECTORY, SYMLINK,
                       FakeAgent, data, entry, file_end, file_frames, wrap)

# CopyEntry.Type has no device kind; a hostile agent can still send any number.
DEVICE_TYPE = 7


def agent_file(name, content, mode=0o644, **kwargs):
    return file_frames(A_ENTRY, A_DATA, A_FILE_END, name, content, mode, **kwargs)


def root_dir():
    return wrap(A_ENTRY, entry(b"", DIRECTORY, 0o755))


def finish():
    return wrap(A_END, b"") + wrap(A_RESULT, b"")


SCRIPTS = {
    "dot-dot name": root_dir() + agent_file(b"../evil", b"evil") + finish(),
    "nested dot-dot": root_dir() + agent_file(b"a/../../evil", b"evil") + finish(),
    "absolute name": root_dir() + agent_file(b"/tmp/ember-hostile-evil", b"evil") + finish(),
    "symlink then file through it": (
        root_dir() + wrap(A_ENTRY, entry(b"link", SYMLINK, 0o777, target=b"../.."))
        + agent_file(b"link/evil", b"evil") + finish()),
    "absolute symlink then file": (
        root_dir() + wrap(A_ENTRY, entry(b"link", SYMLINK, 0o777, target=b"/tmp"))
        + agent_file(b"link/ember-hostile-evil", b"evil") + finish()),
    "inner symlink then file through it": (
        root_dir() + wrap(A_ENTRY, entry(b"sub", DIRECTORY, 0o755))
        + wrap(A_ENTRY, entry(b"link", SYMLINK, 0o777, target=b"sub"))
        + agent_file(b"link/evil", b"evil") + finish()),
    "device node": root_dir() + wrap(A_ENTRY, entry(b"dev", DEVICE_TYPE, 0o666)) + finish(),
    "oversized length": (
        root_dir() + wrap(A_ENTRY, entry(b"huge", size=1 << 62)) + finish()),
    "oversized data offset": (
        root_dir() + wrap(A_ENTRY, entry(b"huge", size=10))
        + wrap(A_DATA, data((1 << 40) + 5, b"x")) + finish()),
    "data beyond final length": (
        root_dir() + wrap(A_ENTRY, entry(b"short", size=4)) + wrap(A_DATA, data(0, b"12345678"))
        + wrap(A_FILE_END, file_end(b"1234", size=4)) + finish()),
    "hardlink to outside": (
        root_dir() + wrap(A_ENTRY, entry(b"hl", 3, target=b"../../etc/passwd")) + finish()),
}


@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_hostile_copy_out_writes_nothing_outside(ember_bin, work_dir, case):
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    fake = FakeAgent(os.path.join(work_dir, "fake.sock"), SCRIPTS[case])
    try:
        result = subprocess.run(
            [ember_bin("emberctl"), "-c", "unix:" + fake.path, "cp", ":/guest/tree", dest],
            capture_output=True, timeout=30)
    finally:
        fake.close()

    assert result.returncode != 0, case
    assert result.stderr, case
    assert sorted(os.listdir(work_dir)) == ["dest", "fake.sock"], case
    assert not os.path.exists("/tmp/ember-hostile-evil"), case
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode), case
            assert not mode & (stat.S_ISUID | stat.S_ISGID), case
            assert not os.path.exists(os.path.join(dirpath, name, "evil")), case


def test_hostile_setuid_and_owner_not_restored(ember_bin, work_dir):
    script = (root_dir() + agent_file(b"tool", b"#!/bin/sh\n", mode=0o6755, uid=0, gid=0)
              + agent_file(b"theirs", b"x", mode=0o644, uid=4321, gid=4321) + finish())
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    fake = FakeAgent(os.path.join(work_dir, "fake.sock"), script)
    try:
        result = subprocess.run(
            [ember_bin("emberctl"), "-c", "unix:" + fake.path, "cp", ":/guest/tree", dest],
            capture_output=True, timeout=30)
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    tool = os.lstat(os.path.join(dest, "tree", "tool"))
    assert oct(stat.S_IMODE(tool.st_mode)) == oct(0o755)
    theirs = os.lstat(os.path.join(dest, "tree", "theirs"))
    assert (theirs.st_uid, theirs.st_gid) == (os.getuid(), os.getgid())


def test_hostile_agent_stalling_mid_frame_times_out(ember_bin, work_dir):
    """An agent that sends half a frame and then nothing must not hang the host."""
    whole = root_dir() + agent_file(b"file", b"x" * 1000)
    fake = FakeAgent(os.path.join(work_dir, "fake.sock"), whole[:len(whole) - 500],
                     linger=True)
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    try:
        result = subprocess.run(
            [ember_bin("emberctl"), "-c", "unix:" + fake.path, "cp", "--idle-timeout", "1",
             ":/guest/tree", dest], capture_output=True, timeout=30)
    finally:
        fake.close()
    assert result.returncode == 123
    assert b"timed out: the agent sent nothing for 1000 ms" in result.stderr
    assert os.listdir(os.path.join(dest, "tree")) == []


def test_hostile_tar_stream_rejected(ember_bin, work_dir):
    """Writing a tar to stdout, the host still refuses escaping names."""
    fake = FakeAgent(os.path.join(work_dir, "fake.sock"),
                     root_dir() + agent_file(b"../evil", b"evil") + finish())
    try:
        result = subprocess.run(
            [ember_bin("emberctl"), "-c", "unix:" + fake.path, "cp", ":/guest/tree", "-"],
            capture_output=True, timeout=30)
    finally:
        fake.close()
    assert result.returncode != 0
    assert b"../evil" not in result.stdout
