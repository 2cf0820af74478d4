"""A small ember client that shares no code with libember.

It encodes and decodes the protocol's protobuf messages by hand (varints and
length-delimited fields, no generated code), following proto/PROTOCOL.md. Each
message is a frame with a 4-byte big-endian length. The client's Request comes
first, then ClientFrame messages from the client and AgentFrame messages from
the agent.
Tests use it to run an exec, info, list or copy_out independently of emberctl,
to cut connections at chosen points, and to send frames that libember would
never produce.

    with Client("unix:/tmp/x/agent.sock") as c:
        result = c.exec([b"echo", b"hi"])
        assert result.stdout == b"hi\\n" and result.exit["status"] == 0
"""
import socket
import struct

PROTOCOL_VERSION = 1
FRAME_MAX = 1024 * 1024

# Request op field numbers.
OP_PING, OP_INFO, OP_EXEC, OP_ATTACH, OP_SIGNAL, OP_LIST = 10, 11, 12, 13, 14, 15
OP_LOGS, OP_WAIT, OP_SHUTDOWN, OP_START = 16, 17, 18, 19
OP_COPY_OUT = 21

# AgentFrame kinds.
KIND_NAMES = {1: "error", 2: "ack", 3: "pong", 4: "info", 5: "exec_started", 6: "output",
              7: "output_lost", 8: "exit", 9: "list", 10: "entrypoint_exit",
              11: "copy_entry", 12: "copy_data", 13: "copy_file_end", 14: "copy_end",
              15: "copy_progress", 16: "copy_result"}

# CopyEntry types.
COPY_FILE, COPY_DIRECTORY, COPY_SYMLINK, COPY_HARDLINK = 0, 1, 2, 3
CHUNK_MAX = 256 * 1024

# ClientFrame kinds.
CLIENT_STDIN, CLIENT_STDIN_EOF, CLIENT_RESIZE, CLIENT_SIGNAL = 1, 2, 3, 4

STDOUT, STDERR, LOG = 0, 1, 2


class ProtocolError(Exception):
    pass


class AgentError(Exception):
    """An Error frame: code, errno, message and path."""

    def __init__(self, code, errno_value, message, path=""):
        super().__init__(f"agent error {code} (errno {errno_value}): {message}")
        self.code = code
        self.errno_value = errno_value
        self.message = message
        self.path = path


# ---------------------------------------------------------------- encoding

def varint(value):
    """Encodes an unsigned varint; negative int32/int64 values use 10 bytes."""
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
    return varint(number << 3 | 0) + varint(int(value))


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def frame(message):
    return struct.pack(">I", len(message)) + message


# ---------------------------------------------------------------- decoding

def read_varint(buf, pos):
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varint longer than 10 bytes")


def decode(buf):
    """Decodes a message into {field number: [values]}: ints for varints,
    bytes for length-delimited fields. Fixed-width fields are skipped."""
    fields = {}
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise ProtocolError("field runs past the end of the message")
            value, pos = bytes(buf[pos:pos + length]), pos + length
        elif wire == 1:
            pos += 8
            continue
        elif wire == 5:
            pos += 4
            continue
        else:
            raise ProtocolError(f"unknown wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def get_int(fields, number, signed=False):
    value = fields.get(number, [0])[-1]
    if signed and value >= 1 << 63:
        value -= 1 << 64
    return value


def get_bytes(fields, number):
    return fields.get(number, [b""])[-1]


def exit_from_fields(f):
    """Converts the decoded fields of an Exit message into a dict."""
    return {"code": get_int(f, 1, True), "signal": get_int(f, 2, True),
            "core_dumped": bool(get_int(f, 3)), "timed_out": bool(get_int(f, 4)),
            "stdout_bytes": get_int(f, 5), "stderr_bytes": get_int(f, 6),
            "status": get_int(f, 7, True)}


def get_all_bytes(fields, number):
    return fields.get(number, [])


def info_from_fields(f):
    """Converts the decoded fields of an InfoResponse message into a dict."""
    timings = []
    for raw in get_all_bytes(f, 9):
        t = decode(raw)
        timings.append((get_bytes(t, 1).decode(), get_int(t, 2)))
    return {"agent_version": get_bytes(f, 1).decode(), "protocol_version": get_int(f, 2),
            "protocol_min_version": get_int(f, 3), "boot_id": get_bytes(f, 4).decode(),
            "uptime_ms": get_int(f, 5), "hostname": get_bytes(f, 6).decode(),
            "kernel": get_bytes(f, 7).decode(), "arch": get_bytes(f, 8).decode(),
            "boot_timings": timings,
            "operations": [op.decode() for op in get_all_bytes(f, 10)],
            "under_init": bool(get_int(f, 11)), "sessions": get_int(f, 12),
            "frozen": bool(get_int(f, 13))}


def session_from_fields(f):
    """Converts the decoded fields of a SessionInfo message into a dict."""
    return {"session_id": get_bytes(f, 1).decode(), "pid": get_int(f, 2, True),
            "argv": get_all_bytes(f, 3), "running": bool(get_int(f, 4)),
            "attached": bool(get_int(f, 5)), "detached": bool(get_int(f, 6)),
            "tty": bool(get_int(f, 7)),
            "exit": exit_from_fields(decode(f[8][-1])) if 8 in f else None,
            "started_ms": get_int(f, 9)}


def copy_entry_from_fields(f):
    """Converts the decoded fields of a CopyEntry message into a dict."""
    return {"name": get_bytes(f, 1), "type": get_int(f, 2), "mode": get_int(f, 3),
            "uid": get_int(f, 4), "gid": get_int(f, 5), "mtime_sec": get_int(f, 6, True),
            "mtime_nsec": get_int(f, 7), "size": get_int(f, 8), "link_target": get_bytes(f, 9),
            "implied": bool(get_int(f, 12))}


def decode_agent_frame(buf):
    """Returns (kind name, decoded fields of the kind's message)."""
    outer = decode(buf)
    for number, values in outer.items():
        if number in KIND_NAMES:
            return KIND_NAMES[number], decode(values[-1])
    raise ProtocolError(f"frame with no known kind: fields {sorted(outer)}")


# ---------------------------------------------------------------- messages

def exec_request(argv, env=(), clear_env=False, cwd=b"", user="", stdin=False, tty=False,
                 rows=0, cols=0, term="", timeout_ms=0, detach=False, ttl_s=0, shell=False):
    msg = b"".join(field_bytes(1, a) for a in argv)
    msg += b"".join(field_bytes(2, e) for e in env)
    for number, value in ((3, clear_env), (6, stdin), (7, tty), (8, rows), (9, cols),
                          (11, timeout_ms), (12, detach), (13, ttl_s), (14, shell)):
        if value:
            msg += field_varint(number, value)
    for number, value in ((4, cwd), (5, user), (10, term)):
        if value:
            msg += field_bytes(number, value)
    return msg


def attach_request(session_id, stdout_offset=0, stderr_offset=0, stdin=False):
    msg = field_bytes(1, session_id)
    if stdout_offset:
        msg += field_varint(2, stdout_offset)
    if stderr_offset:
        msg += field_varint(3, stderr_offset)
    if stdin:
        msg += field_varint(4, 1)
    return msg


def copy_out_request(src, user="", follow_root_link=False):
    msg = field_bytes(1, src)
    if user:
        msg += field_bytes(2, user)
    if follow_root_link:
        msg += field_varint(3, 1)
    return msg


def request(op_number, op_message, version=PROTOCOL_VERSION, token=None, client="pyember"):
    msg = field_varint(1, version)
    if token:
        msg += field_bytes(2, token)
    msg += field_bytes(3, client)
    return msg + field_bytes(op_number, op_message)


# ---------------------------------------------------------------- connection

def connect(address, timeout=30.0):
    """Connects to unix:PATH or tcp:HOST:PORT."""
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address[5:])
        return sock
    if address.startswith("tcp:"):
        host, port = address[4:].rsplit(":", 1)
        return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    raise ValueError(f"pyember supports unix: and tcp: addresses, not '{address}'")


class Result:
    def __init__(self):
        self.session_id = None
        self.pid = 0
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.lost = [0, 0]
        self.exit = None


class Client:
    """One connection: one operation, as the protocol requires."""

    def __init__(self, address, token=None, timeout=30.0):
        self.address = address
        self.token = token
        self.sock = connect(address, timeout)
        self.buffer = bytearray()

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_request(self, op_number, op_message, version=PROTOCOL_VERSION):
        self.send_raw(frame(request(op_number, op_message, version, self.token)))

    def send_client_frame(self, kind, message=b""):
        self.send_raw(frame(field_bytes(kind, message)))

    def send_stdin(self, data):
        self.send_client_frame(CLIENT_STDIN, field_bytes(1, data))

    def send_eof(self):
        self.send_client_frame(CLIENT_STDIN_EOF)

    def send_resize(self, rows, cols):
        self.send_client_frame(CLIENT_RESIZE, field_varint(1, rows) + field_varint(2, cols))

    def send_signal(self, number, process_group=True):
        msg = field_varint(2, number) + (field_varint(3, 1) if process_group else b"")
        self.send_client_frame(CLIENT_SIGNAL, msg)

    def _fill(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def recv_frame(self):
        """Returns (kind, fields), or None when the agent closed between frames.
        Raises AgentError for an Error frame."""
        if not self._fill(4):
            if self.buffer:
                raise ProtocolError("connection closed inside a frame header")
            return None
        (length,) = struct.unpack(">I", self.buffer[:4])
        if length > FRAME_MAX:
            raise ProtocolError(f"frame of {length} bytes is over the limit")
        if not self._fill(4 + length):
            raise ProtocolError("connection closed inside a frame")
        body = bytes(self.buffer[4:4 + length])
        del self.buffer[:4 + length]
        kind, fields = decode_agent_frame(body)
        if kind == "error":
            # Copy errors may quote guest file names that are not UTF-8.
            raise AgentError(get_int(fields, 1), get_int(fields, 2, True),
                             get_bytes(fields, 3).decode(errors="replace"),
                             get_bytes(fields, 4).decode(errors="replace"))
        return kind, fields

    # ------------------------------------------------------------ operations

    def ping(self):
        self.send_request(OP_PING, b"")
        kind, fields = self.recv_frame()
        if kind != "pong":
            raise ProtocolError(f"expected pong, got {kind}")
        return get_int(fields, 1)

    def _unary(self, op_number, expected):
        self.send_request(op_number, b"")
        received = self.recv_frame()
        if received is None:
            raise ProtocolError(f"connection closed before the {expected} frame")
        kind, fields = received
        if kind != expected:
            raise ProtocolError(f"expected {expected}, got {kind}")
        return fields

    def info(self):
        return info_from_fields(self._unary(OP_INFO, "info"))

    def list(self):
        fields = self._unary(OP_LIST, "list")
        return [session_from_fields(decode(raw)) for raw in get_all_bytes(fields, 1)]

    def copy_out(self, src, user="", follow_root_link=False):
        """Reads a file or tree from the guest. Returns (entries, result):
        entries are dicts of CopyEntry fields, a FILE entry with its content
        in "data" (holes as zeros) and its CopyFileEnd in "sha256" and
        "final_size"; result holds the CopyResult's entries, bytes, warnings."""
        self.send_request(OP_COPY_OUT, copy_out_request(src, user, follow_root_link))
        entries = []
        current = None  # the FILE entry whose data frames are coming
        ended = False
        while True:
            received = self.recv_frame()
            if received is None:
                raise ProtocolError("connection closed before the copy_result frame")
            kind, fields = received
            if kind == "copy_result":
                if not ended or current is not None:
                    raise ProtocolError("copy_result before copy_end")
                result = {"entries": get_int(fields, 1), "bytes": get_int(fields, 2),
                          "warnings": [w.decode(errors="replace")
                                       for w in get_all_bytes(fields, 3)]}
                return entries, result
            if ended:
                raise ProtocolError(f"{kind} frame after copy_end")
            if kind in ("copy_data", "copy_file_end") and current is None:
                raise ProtocolError(f"{kind} frame outside a FILE entry")
            if kind != "copy_data" and kind != "copy_file_end" and current is not None:
                raise ProtocolError(f"{kind} frame inside a FILE entry")
            if kind == "copy_entry":
                entry = copy_entry_from_fields(fields)
                if not entries and entry["name"] != b"":
                    raise ProtocolError(f"first entry named {entry['name']!r}, not the root")
                entries.append(entry)
                if entry["type"] == COPY_FILE:
                    entry["data"] = bytearray()
                    current = entry
            elif kind == "copy_data":
                offset, data = get_int(fields, 1), get_bytes(fields, 2)
                if offset < len(current["data"]) or len(data) > CHUNK_MAX:
                    raise ProtocolError(f"copy_data at offset {offset} overlaps or is too long")
                current["data"].extend(b"\0" * (offset - len(current["data"])) + data)
            elif kind == "copy_file_end":
                current["sha256"] = get_bytes(fields, 1)
                current["final_size"] = get_int(fields, 2)
                current["data"].extend(b"\0" * (current["final_size"] - len(current["data"])))
                current = None
            elif kind == "copy_end":
                ended = True
            else:
                raise ProtocolError(f"unexpected {kind} frame in a copy_out stream")

    def start_exec(self, argv, **options):
        """Sends an exec request and returns the session id after ExecStarted."""
        self.send_request(OP_EXEC, exec_request(argv, **options))
        return self._started(Result())

    def start_attach(self, session_id, stdout_offset=0, stderr_offset=0, stdin=False):
        self.send_request(OP_ATTACH, attach_request(session_id, stdout_offset, stderr_offset,
                                                    stdin))
        result = Result()
        result.offsets = [stdout_offset, stderr_offset]
        return self._started(result)

    def _started(self, result):
        kind, fields = self.recv_frame()
        if kind != "exec_started":
            raise ProtocolError(f"expected exec_started, got {kind}")
        result.session_id = get_bytes(fields, 1).decode()
        result.pid = get_int(fields, 2, True)
        if not hasattr(result, "offsets"):
            result.offsets = [0, 0]
        self.result = result
        return result

    def next_event(self):
        """Reads one output, lost or exit frame into self.result. Returns the
        kind, or None when the connection closed."""
        received = self.recv_frame()
        if received is None:
            return None
        kind, fields = received
        result = self.result
        if kind == "output":
            stream, offset, data = get_int(fields, 1), get_int(fields, 2), get_bytes(fields, 3)
            if stream not in (STDOUT, STDERR) or offset != result.offsets[stream]:
                raise ProtocolError(f"output on stream {stream} at offset {offset}, "
                                    f"expected {result.offsets[stream]}")
            (result.stdout if stream == STDOUT else result.stderr).extend(data)
            result.offsets[stream] += len(data)
        elif kind == "output_lost":
            stream, length = get_int(fields, 1), get_int(fields, 3)
            result.lost[stream] += length
            result.offsets[stream] += length
        elif kind == "exit":
            result.exit = exit_from_fields(fields)
        else:
            raise ProtocolError(f"unexpected {kind} frame in an exec stream")
        return kind

    def wait_exit(self):
        while self.result.exit is None:
            if self.next_event() is None:
                raise ProtocolError("connection closed before the exit frame")
        return self.result

    def exec(self, argv, stdin=None, **options):
        """Runs argv to completion; stdin (bytes) is sent first, then its end."""
        self.start_exec(argv, stdin=stdin is not None, **options)
        if stdin is not None:
            for i in range(0, len(stdin), 65536):
                self.send_stdin(stdin[i:i + 65536])
            self.send_eof()
        return self.wait_exit()


def run(address, argv, token=None, **options):
    """Opens a connection, runs one exec and closes it."""
    with Client(address, token=token) as client:
        return client.exec([a.encode() if isinstance(a, str) else a for a in argv], **options)
