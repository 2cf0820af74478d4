"""Byte-forwarding proxies that a test starts in front of its own agent.

Proxy listens on a Unix path or a 127.0.0.1 port and forwards each connection
to the agent. Its cut() closes every forwarded connection at once, as a
snapshot resets vsock connections. HvsockProxy plays the VMM's side of the Firecracker
and Cloud Hypervisor hybrid vsock: it reads "CONNECT PORT\\n", closes the
connection when nothing listens on that port yet (the guest is still booting),
and otherwise answers "OK HOSTPORT\\n" and forwards.
"""
import os
import socket
import threading


def _connect(address):
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address[5:])
        return sock
    host, port = address[4:].rsplit(":", 1)
    return socket.create_connection((host, int(port)))


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for sock in (dst, src):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Proxy:
    def __init__(self, target, listen_path=None):
        """Forwards to target (unix:PATH or tcp:HOST:PORT). Listens on
        listen_path when given, else on a free 127.0.0.1 port."""
        self.target = target
        if listen_path:
            self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.server.bind(listen_path)
            self.addr = f"unix:{listen_path}"
        else:
            self.server = socket.socket()
            self.server.bind(("127.0.0.1", 0))
            self.addr = f"tcp:127.0.0.1:{self.server.getsockname()[1]}"
        self.server.listen(64)
        self.lock = threading.Lock()
        self.sockets = []
        self.connections = 0
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        upstream = self.open_upstream(client)
        if upstream is None:
            client.close()
            return
        with self.lock:
            self.sockets += [client, upstream]
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def open_upstream(self, client):
        try:
            return _connect(self.target)
        except OSError:
            return None

    def cut(self):
        """Resets every forwarded connection, both sides at once."""
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self):
        self.server.close()
        self.cut()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HvsockProxy(Proxy):
    """The VMM end of hybrid vsock: guest port guest_port maps to target,
    which counts as listening once its socket path exists."""

    def __init__(self, listen_path, guest_port, target):
        self.guest_port = guest_port
        self.handshakes = []
        super().__init__(target, listen_path)

    def open_upstream(self, client):
        line = b""
        while not line.endswith(b"\n") and len(line) < 64:
            data = client.recv(1)
            if not data:
                return None
            line += data
        with self.lock:
            self.handshakes.append(line)
        words = line.split()
        if len(words) != 2 or words[0] != b"CONNECT" or words[1] != str(self.guest_port).encode():
            return None
        if not os.path.exists(self.target[5:]):
            return None
        upstream = super().open_upstream(client)
        if upstream is not None:
            client.sendall(b"OK 1073741824\n")
        return upstream
