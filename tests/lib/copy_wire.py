"""Copy messages of the ember protocol, hand-encoded for tests that play a
client (raw copy-in streams) or an agent (the fake hostile agent). Field
numbers follow proto/agent.proto."""
import hashlib
import socket
import struct
import threading

from core_client import decode, field_bytes, field_varint, first, frame, request

OP_COPY_IN, OP_COPY_OUT = 20, 21

# CopyEntry.Type
FILE, DIRECTORY, SYMLINK, HARDLINK = 0, 1, 2, 3

# ClientFrame kinds
C_ENTRY, C_DATA, C_FILE_END, C_END = 10, 11, 12, 13
# AgentFrame kinds
A_ERROR, A_ENTRY, A_DATA, A_FILE_END, A_END, A_PROGRESS, A_RESULT = 1, 11, 12, 13, 14, 15, 16


def copy_in_request(dest, user="", preserve_owner=False, dest_is_dir=False, root_name=b"",
                    contents_only=False):
    body = (field_bytes(1, dest) + field_bytes(2, user) + field_varint(3, preserve_owner)
            + field_varint(4, dest_is_dir) + field_bytes(5, root_name)
            + field_varint(6, contents_only))
    return request(OP_COPY_IN, body)


def entry(name, kind=FILE, mode=0o644, uid=0, gid=0, mtime=1700000000, size=0, target=b""):
    return (field_bytes(1, name) + field_varint(2, kind) + field_varint(3, mode)
            + field_varint(4, uid) + field_varint(5, gid) + field_varint(6, mtime)
            + field_varint(8, size) + field_bytes(9, target))


def data(offset, payload):
    return field_varint(1, offset) + field_bytes(2, payload)


def file_end(content, size=None, digest=None):
    digest = hashlib.sha256(content).digest() if digest is None else digest
    return field_bytes(1, digest) + field_varint(2, len(content) if size is None else size)


def wrap(kind, message):
    """One ClientFrame or AgentFrame holding message as field kind."""
    return frame(field_bytes(kind, message, always=True))


def file_frames(kind_entry, kind_data, kind_end, name, content, mode=0o644, **kwargs):
    """The frames of one whole file, for either direction."""
    out = [wrap(kind_entry, entry(name, FILE, mode, size=len(content), **kwargs))]
    if content:
        out.append(wrap(kind_data, data(0, content)))
    out.append(wrap(kind_end, file_end(content)))
    return b"".join(out)


def read_frames(sock):
    """Reads AgentFrames until EOF; returns a list of (kind, fields)."""
    buf = b""
    frames = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    while len(buf) >= 4:
        (length,) = struct.unpack(">I", buf[:4])
        body, buf = buf[4:4 + length], buf[4 + length:]
        outer = decode(body)
        kind, values = next(iter(outer.items()))
        frames.append((kind, decode(values[0])))
    return frames


def error_message(frames):
    for kind, fields in frames:
        if kind == A_ERROR:
            return first(fields, 3, b"").decode(errors="replace")
    return None


class FakeAgent:
    """A hostile agent on a Unix socket: to every connection it sends the
    given bytes (already framed AgentFrames) after reading the request, then
    closes. The test runs emberctl against it."""

    def __init__(self, path, script, linger=False):
        self.path = path
        self.script = script
        self.linger = linger  # keep the connection open after the script
        self.requests = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    header = conn.recv(4, socket.MSG_WAITALL)
                    (length,) = struct.unpack(">I", header)
                    self.requests.append(conn.recv(length, socket.MSG_WAITALL))
                    conn.sendall(self.script)
                    if not self.linger:
                        conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass

    def close(self):
        self.server.close()
