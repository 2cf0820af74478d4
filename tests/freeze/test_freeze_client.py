"""emberctl's freeze commands against a fake agent that breaks the limits:
libember must reject the reply with a protocol error, never trust it."""
import os
import socket
import struct
import subprocess
import threading

import pytest

from freeze_ns import field_bytes, field_varint

EXIT_REMOTE = 125


class FakeAgent:
    """Accepts one connection on a Unix socket, reads the Request frame and
    replies with a fixed AgentFrame body."""

    def __init__(self, path, reply):
        self.path = path
        self.reply = reply
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(10)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            header = conn.recv(4)
            length = struct.unpack(">I", header)[0]
            while length > 0:
                length -= len(conn.recv(length))
            conn.sendall(struct.pack(">I", len(self.reply)) + self.reply)

    def close(self):
        self.server.close()
        self.thread.join(timeout=10)


def mount_state(mountpoint, state="frozen"):
    return (field_bytes(1, mountpoint) + field_bytes(2, "ext4") + field_bytes(3, "/dev/loop0")
            + field_bytes(4, state))


def run_against(tmp_path, ember_bin, reply, *args):
    path = os.path.join(str(tmp_path), "fake.sock")
    agent = FakeAgent(path, reply)
    try:
        return subprocess.run([ember_bin("emberctl"), "-c", f"unix:{path}"] + list(args),
                              capture_output=True, text=True, timeout=30)
    finally:
        agent.close()


def test_valid_reply_printed(tmp_path, ember_bin):
    response = field_bytes(1, mount_state("/mnt/a")) + field_varint(2, 60000)
    proc = run_against(tmp_path, ember_bin, field_bytes(17, response), "freeze", "/mnt/a")
    assert proc.returncode == 0, proc.stderr
    assert "frozen   /mnt/a ext4 /dev/loop0" in proc.stdout
    assert "auto-thaw in 60 s" in proc.stdout


def test_too_many_mounts_rejected(tmp_path, ember_bin):
    response = field_bytes(1, mount_state("/mnt/a")) * 257
    proc = run_against(tmp_path, ember_bin, field_bytes(17, response), "freeze", "/mnt/a")
    assert proc.returncode == EXIT_REMOTE
    assert "257 mount states, more than the limit of 256" in proc.stderr


def test_long_mountpoint_rejected(tmp_path, ember_bin):
    # FsStatusResponse: frozen 1, mounts 2.
    response = field_varint(1, 1) + field_bytes(2, mount_state("/" + "m" * 5000))
    proc = run_against(tmp_path, ember_bin, field_bytes(19, response), "fsstatus")
    assert proc.returncode == EXIT_REMOTE
    assert "invalid mount point of 5001 bytes" in proc.stderr


def test_too_many_resume_notes_rejected(tmp_path, ember_bin):
    response = field_bytes(5, "clock: skipped") * 81
    proc = run_against(tmp_path, ember_bin, field_bytes(20, response), "resume")
    assert proc.returncode == EXIT_REMOTE
    assert "81 skipped actions, more than the limit of 80" in proc.stderr


@pytest.mark.parametrize("command", ["thaw", "resume", "fsstatus"])
def test_wrong_reply_kind_rejected(tmp_path, ember_bin, command):
    # A pong (AgentFrame field 3) where the command expects its own response.
    proc = run_against(tmp_path, ember_bin, field_bytes(3, field_varint(1, 1)), command)
    assert proc.returncode == EXIT_REMOTE
