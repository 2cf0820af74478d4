"""Copies that fail: the client killed mid-copy, a full filesystem, a
checksum mismatch, entries that try to leave the destination, and a copy as
a user without the permission. None of them may leave a partial file."""
import os
import signal
import socket
import subprocess
import time

from agent_harness import child_pids
from copy_wire import (C_DATA, C_END, C_ENTRY, C_FILE_END, DIRECTORY, SYMLINK, copy_in_request,
                       data, entry, error_message, file_end, file_frames, read_frames, wrap)
from core_client import frame

NOBODY = 65534


def raw_copy_in(agent, request, frames):
    """Sends a copy-in request and client frames as given; returns the
    agent's frames."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(agent.socket_path)
        sock.sendall(frame(request))
        try:
            sock.sendall(frames)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent stopped reading after rejecting an entry
        return read_frames(sock)


def worker_pids(agent):
    return child_pids(agent.proc.pid)


def wait_no_workers(agent, timeout=10):
    deadline = time.monotonic() + timeout
    while worker_pids(agent):
        assert time.monotonic() < deadline, f"copy workers left: {worker_pids(agent)}"
        time.sleep(0.05)


def write_random(path, size):
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def open_fds(agent):
    return len(os.listdir(f"/proc/{agent.proc.pid}/fd"))


def wait_for_worker(agent, timeout=10):
    deadline = time.monotonic() + timeout
    while not worker_pids(agent):
        assert time.monotonic() < deadline, "no copy worker started"
        time.sleep(0.01)


def test_client_killed_during_copy_in(ember_bin, cp, agent, work_dir):
    src = os.path.join(work_dir, "big")
    write_random(src, 512 << 20)
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    fds_before = open_fds(agent)
    client = subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp", src, ":" + dest],
                              stderr=subprocess.DEVNULL)
    wait_for_worker(agent)
    time.sleep(0.3)
    client.send_signal(signal.SIGKILL)
    client.wait()

    wait_no_workers(agent)
    assert os.listdir(dest) == []
    assert open_fds(agent) == fds_before
    # The agent still serves copies afterwards.
    small = os.path.join(work_dir, "small")
    with open(small, "w") as f:
        f.write("ok\n")
    assert cp(small, ":" + dest).returncode == 0
    assert os.listdir(dest) == ["small"]


def test_client_killed_during_copy_out(ember_bin, agent, work_dir):
    src = os.path.join(work_dir, "big")
    write_random(src, 512 << 20)
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    client = subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp", ":" + src, dest],
                              stderr=subprocess.DEVNULL)
    wait_for_worker(agent)
    time.sleep(0.3)
    client.send_signal(signal.SIGKILL)
    client.wait()

    wait_no_workers(agent)
    assert os.listdir(dest) == []


def test_full_filesystem_copy_in(cp, agent, work_dir, small_tmpfs):
    src = os.path.join(work_dir, "src")
    os.mkdir(src)
    os.chmod(src, 0o755)
    with open(os.path.join(src, "small"), "wb") as f:
        f.write(b"fits\n")
    write_random(os.path.join(src, "too-big"), 32 << 20)

    result = cp(src, ":" + small_tmpfs)
    assert result.returncode == 125
    assert b"No space left on device" in result.stderr
    assert os.path.join(small_tmpfs, "src", "too-big").encode() in result.stderr
    assert sorted(os.listdir(os.path.join(small_tmpfs, "src"))) == ["small"]
    # The directory created before the failure gets its mode, not the 0700
    # it was created with.
    assert os.stat(os.path.join(small_tmpfs, "src")).st_mode & 0o7777 == 0o755
    wait_no_workers(agent)


def test_full_filesystem_copy_out(cp, work_dir, small_tmpfs):
    src = os.path.join(work_dir, "too-big")
    write_random(src, 32 << 20)
    result = cp(":" + src, small_tmpfs)
    assert result.returncode == 1
    assert b"No space left on device" in result.stderr
    assert os.listdir(small_tmpfs) == []


def test_checksum_mismatch_leaves_nothing(agent, work_dir):
    content = b"payload\n"
    frames = (wrap(C_ENTRY, entry(b"", size=len(content))) + wrap(C_DATA, data(0, content))
              + wrap(C_FILE_END, file_end(content, digest=b"\0" * 32)) + wrap(C_END, b""))
    reply = raw_copy_in(agent, copy_in_request(os.path.join(work_dir, "file")), frames)
    assert "checksum mismatch" in error_message(reply)
    assert os.listdir(work_dir) == []


def test_escaping_entries_rejected(agent, work_dir):
    dest = os.path.join(work_dir, "dest")
    os.mkdir(dest)
    cases = {
        "dot-dot": file_frames(C_ENTRY, C_DATA, C_FILE_END, b"../evil", b"evil"),
        "absolute": file_frames(C_ENTRY, C_DATA, C_FILE_END, b"/" + os.path.join(work_dir, "abs").lstrip("/").encode(), b"evil"),
        "escaping symlink": wrap(C_ENTRY, entry(b"esc", SYMLINK, 0o777, target=b"../../outside")),
        "absolute symlink": wrap(C_ENTRY, entry(b"abs-link", SYMLINK, 0o777, target=work_dir.encode())),
        "file through symlink": (wrap(C_ENTRY, entry(b"inner", DIRECTORY, 0o755))
                                 + wrap(C_ENTRY, entry(b"hop", SYMLINK, 0o777, target=b"inner"))
                                 + file_frames(C_ENTRY, C_DATA, C_FILE_END, b"hop/x", b"evil")),
    }
    for name, frames in cases.items():
        request = copy_in_request(dest, dest_is_dir=True, contents_only=True)
        reply = raw_copy_in(agent, request,
                            wrap(C_ENTRY, entry(b"", DIRECTORY, 0o755)) + frames + wrap(C_END, b""))
        message = error_message(reply)
        assert message is not None, f"{name}: accepted"
        assert not os.path.exists(os.path.join(work_dir, "evil")), name
        assert not os.path.exists(os.path.join(work_dir, "abs")), name
        assert not os.path.exists(os.path.join(dest, "inner", "x")), name
    assert sorted(os.listdir(work_dir)) == ["dest"]


def test_symlink_planted_in_destination(cp, work_dir):
    """A workload swapped a directory of the destination for a symlink out
    of it; the copy must not write through it."""
    outside = os.path.join(work_dir, "outside")
    os.mkdir(outside)
    dest = os.path.join(work_dir, "dest")
    os.makedirs(os.path.join(dest))
    os.symlink(outside, os.path.join(dest, "tree"))
    src = os.path.join(work_dir, "tree")
    os.mkdir(src)
    with open(os.path.join(src, "file"), "w") as f:
        f.write("data\n")

    result = cp(src, ":" + dest)
    assert result.returncode != 0
    assert os.listdir(outside) == []


def test_copy_as_user_owns_files(cp, work_dir):
    dest = os.path.join(work_dir, "home")
    os.mkdir(dest)
    os.chown(dest, NOBODY, NOBODY)
    src = os.path.join(work_dir, "src")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "sub", "file"), "w") as f:
        f.write("mine\n")

    result = cp("-u", f"{NOBODY}:{NOBODY}", src, ":" + dest)
    assert result.returncode == 0, result.stderr
    for rel in ("src", "src/sub", "src/sub/file"):
        st = os.lstat(os.path.join(dest, rel))
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), rel


def test_copy_as_user_without_permission(cp, work_dir):
    dest = os.path.join(work_dir, "root-only")
    os.mkdir(dest, 0o755)
    src = os.path.join(work_dir, "file")
    with open(src, "w") as f:
        f.write("x\n")

    result = cp("-u", str(NOBODY), src, ":" + dest)
    assert result.returncode != 0
    assert b"Permission denied" in result.stderr
    assert os.listdir(dest) == []

    private = os.path.join(work_dir, "private")
    with open(private, "w") as f:
        f.write("secret\n")
    os.chmod(private, 0o600)
    result = cp("-u", str(NOBODY), ":" + private, os.path.join(work_dir, "stolen"))
    assert result.returncode != 0
    assert b"Permission denied" in result.stderr
    assert not os.path.exists(os.path.join(work_dir, "stolen"))

    result = cp("-a", "-u", str(NOBODY), src, ":" + os.path.join(work_dir, "x"))
    assert result.returncode != 0
    assert b"keeping owners" in result.stderr


def test_unknown_user_rejected(cp, work_dir):
    src = os.path.join(work_dir, "file")
    with open(src, "w") as f:
        f.write("x\n")
    result = cp("-u", "no-such-user-here", src, ":" + os.path.join(work_dir, "y"))
    assert result.returncode != 0
    assert b"no-such-user-here" in result.stderr
