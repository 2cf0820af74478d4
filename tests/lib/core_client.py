"""A minimal ember protocol client for the agent's core tests.

It hand-encodes the few protobuf messages the tests need (Debian's python
has no protobuf module here), so it also checks the wire format that
proto/PROTOCOL.md documents. Field numbers follow proto/agent.proto.
"""
import socket
import struct

VERSION = 1
FRAME_MAX = 1024 * 1024

# AgentFrame.kind field numbers.
ERROR, ACK, PONG, INFO, EXEC_STARTED, OUTPUT, OUTPUT_LOST, EXIT, LIST, ENTRYPOINT_EXIT = range(1, 11)
KIND_NAMES = {ERROR: "error", ACK: "ack", PONG: "pong", INFO: "info",
              EXEC_STARTED: "exec_started", OUTPUT: "output", OUTPUT_LOST: "output_lost",
              EXIT: "exit", LIST: "list", ENTRYPOINT_EXIT: "entrypoint_exit"}

# Request.op field numbers.
OP_PING, OP_INFO, OP_EXEC, OP_ATTACH, OP_SIGNAL, OP_LIST, OP_LOGS, OP_WAIT, OP_SHUTDOWN, OP_START = range(10, 20)


def varint(value):
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    if not value:
        return b""
    return varint(number << 3) + varint(int(value))


def field_bytes(number, value, always=False):
    if isinstance(value, str):
        value = value.encode()
    if not value and not always:
        return b""
    return varint((number << 3) | 2) + varint(len(value)) + value


def decode(data):
    """Returns {field number: [values]}; varints as int, length-delimited as bytes."""
    fields = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value = data[pos:pos + length]
            if len(value) != length:
                raise ValueError("truncated field")
            pos += length
        elif wire == 1:
            value = data[pos:pos + 8]
            pos += 8
        elif wire == 5:
            value = data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def first(fields, number, default=0):
    return fields.get(number, [default])[0]


def exec_request(argv=(), env=(), clear_env=False, cwd=b"", user="", stdin=False, tty=False,
                 rows=0, cols=0, term="", timeout_ms=0, detach=False, ttl_s=0, shell=False):
    body = b"".join(field_bytes(1, a, always=True) for a in argv)
    body += b"".join(field_bytes(2, e, always=True) for e in env)
    body += field_varint(3, clear_env) + field_bytes(4, cwd) + field_bytes(5, user)
    body += field_varint(6, stdin) + field_varint(7, tty) + field_varint(8, rows)
    body += field_varint(9, cols) + field_bytes(10, term) + field_varint(11, timeout_ms)
    body += field_varint(12, detach) + field_varint(13, ttl_s) + field_varint(14, shell)
    return OP_EXEC, body


def attach_request(session_id, stdout_offset=0, stderr_offset=0, stdin=False):
    body = field_bytes(1, session_id) + field_varint(2, stdout_offset)
    body += field_varint(3, stderr_offset) + field_varint(4, stdin)
    return OP_ATTACH, body


def signal_request(session_id, signal, process_group=False):
    return OP_SIGNAL, field_bytes(1, session_id) + field_varint(2, signal) + field_varint(3, process_group)


def request(op, body=b"", version=VERSION, token=b"", client="core-tests"):
    return (field_varint(1, version) + field_bytes(2, token) + field_bytes(3, client)
            + field_bytes(op, body, always=True))


def frame(message):
    return struct.pack(">I", len(message)) + message


def stdin_frame(data):
    return field_bytes(1, field_bytes(1, data), always=True)


def stdin_eof_frame():
    return field_bytes(2, b"", always=True)


def resize_frame(rows, cols):
    return field_bytes(3, field_varint(1, rows) + field_varint(2, cols), always=True)


class AgentError(Exception):
    def __init__(self, fields):
        self.code = first(fields, 1)
        self.errno = signed(first(fields, 2))
        self.message = first(fields, 3, b"").decode(errors="replace")
        super().__init__(f"code {self.code}: {self.message}")


class Connection:
    def __init__(self, addr, token=b"", timeout=30.0):
        kind, _, rest = addr.partition(":")
        if kind == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(rest)
        elif kind == "tcp":
            host, _, port = rest.rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        else:
            raise ValueError(f"unsupported address {addr}")
        self.token = token
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_request(self, op, body=b"", **kwargs):
        kwargs.setdefault("token", self.token)
        self.send_raw(frame(request(op, body, **kwargs)))

    def send_frame(self, message):
        self.send_raw(frame(message))

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv(self):
        """Returns (kind, fields) of the next AgentFrame, or (None, None) at EOF."""
        header = self._recv_exact(4)
        if header is None:
            return None, None
        (length,) = struct.unpack(">I", header)
        if length > FRAME_MAX:
            raise ValueError(f"frame of {length} bytes exceeds the limit")
        body = self._recv_exact(length)
        if body is None:
            raise ValueError("connection closed inside a frame")
        outer = decode(body)
        if len(outer) != 1:
            raise ValueError(f"AgentFrame with {len(outer)} kinds")
        kind, values = next(iter(outer.items()))
        return kind, decode(values[0])

    def unary(self, op, body=b""):
        self.send_request(op, body)
        kind, fields = self.recv()
        if kind == ERROR:
            raise AgentError(fields)
        return kind, fields


class ExecResult:
    def __init__(self):
        self.session_id = None
        self.pid = None
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exit = None
        self.lost = []

    @property
    def status(self):
        return signed(first(self.exit, 7))


def collect(conn, result=None, on_frame=None):
    """Reads exec or attach frames until Exit; returns an ExecResult."""
    result = result or ExecResult()
    while True:
        kind, fields = conn.recv()
        if kind is None:
            raise ConnectionError("agent closed the connection before Exit")
        if on_frame:
            on_frame(kind, fields)
        if kind == ERROR:
            raise AgentError(fields)
        if kind == EXEC_STARTED:
            result.session_id = first(fields, 1, b"").decode()
            result.pid = first(fields, 2)
        elif kind == OUTPUT:
            stream = result.stderr if first(fields, 1) == 1 else result.stdout
            offset = first(fields, 2)
            if offset != len(stream):
                raise ValueError(f"output offset {offset} but {len(stream)} bytes received")
            stream += first(fields, 3, b"")
        elif kind == OUTPUT_LOST:
            result.lost.append((first(fields, 1), first(fields, 2), first(fields, 3)))
            stream = result.stderr if first(fields, 1) == 1 else result.stdout
            stream += b"\0" * first(fields, 3)
        elif kind == EXIT:
            result.exit = fields
            return result


def run(addr, argv, stdin_data=None, token=b"", **kwargs):
    with Connection(addr, token=token) as conn:
        conn.send_request(*exec_request(argv, stdin=stdin_data is not None, **kwargs))
        if stdin_data is not None:
            for i in range(0, len(stdin_data), 65536):
                conn.send_frame(stdin_frame(stdin_data[i:i + 65536]))
            conn.send_frame(stdin_eof_frame())
        return collect(conn)
