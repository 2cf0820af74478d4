"""The peers ember is measured against, started safely inside a benchmark's
session: qemu-guest-agent on a Unix socket with every command that changes
the machine blocked, and OpenSSH's sshd on 127.0.0.1 with its own config,
host key and authorized key in the session's temporary directory.
"""
import base64
import json
import os
import socket
import subprocess
import time

import common

# Seconds to wait for a peer's socket to appear.
START_TIMEOUT_S = 10

# qemu-ga commands a benchmark may use; every other command it lists under
# `qemu-ga -b help` is blocked with -b.
QGA_ALWAYS_ALLOWED = {"guest-sync", "guest-sync-delimited", "guest-ping", "guest-info"}
# Commands that must be reported disabled before anything else is sent,
# whatever the benchmark allows: they change the machine.
QGA_MUST_BE_BLOCKED = {
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
    "guest-fsfreeze-freeze", "guest-fstrim", "guest-set-time", "guest-set-user-password",
    "guest-set-vcpus", "guest-set-memory-blocks", "guest-ssh-add-authorized-keys",
    "guest-ssh-remove-authorized-keys",
}
QGA_READ_ONLY_NETWORK = {"guest-network-get-interfaces", "guest-network-get-route"}
# Largest qemu-ga reply the client reads (guest-file-read of QGA_CHUNK bytes
# in base64 plus the JSON around it).
QGA_REPLY_MAX = 16 * 1024 * 1024


def qga_commands():
    """Returns every command name that this qemu-ga build lists."""
    out = subprocess.run(["qemu-ga", "-b", "help"], capture_output=True, text=True, timeout=10)
    names = set((out.stdout + out.stderr).split())
    if "guest-info" not in names:
        raise RuntimeError(f"could not list qemu-ga commands: {out.stdout}{out.stderr}")
    return names


class QemuGa:
    """qemu-ga listening on SESSION_TMP/qga/qga.sock, allowing only `allowed`
    (plus sync, ping and info)."""

    def __init__(self, session, allowed):
        self.session = session
        self.allowed = set(allowed) | QGA_ALWAYS_ALLOWED
        unsafe = self.allowed & QGA_MUST_BE_BLOCKED
        if unsafe:
            raise ValueError(f"qemu-ga commands {sorted(unsafe)} must stay blocked")
        directory = session.path("qga")
        os.makedirs(os.path.join(directory, "state"))
        self.socket_path = os.path.join(directory, "qga.sock")
        self.blocked = sorted(qga_commands() - self.allowed)
        self.argv = ["qemu-ga", "-m", "unix-listen", "-p", self.socket_path,
                     "-t", os.path.join(directory, "state"),
                     "-f", os.path.join(directory, "qga.pid"),
                     "-b", ",".join(self.blocked)]
        self.proc = session.spawn(self.argv, log_name="qga.log")
        wait_for_path(self.socket_path, self.proc, "qemu-ga")
        self.sock = None
        self._check_blocked()

    def _check_blocked(self):
        """Sends guest-info first and stops unless every command that changes
        the machine is reported disabled."""
        info = self.call("guest-info")
        enabled = {entry["name"] for entry in info["supported_commands"] if entry["enabled"]}
        must_block = QGA_MUST_BE_BLOCKED | {
            name for name in qga_commands()
            if name.startswith("guest-network-") and name not in QGA_READ_ONLY_NETWORK}
        still_enabled = sorted(enabled & must_block)
        if still_enabled:
            self.close()
            raise RuntimeError(f"qemu-ga reports {still_enabled} enabled despite -b; "
                               "not sending anything else")
        unexpected = sorted(enabled - self.allowed)
        if unexpected:
            self.close()
            raise RuntimeError(f"qemu-ga reports {unexpected} enabled, expected only "
                               f"{sorted(self.allowed)}")

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)
        self.reader = self.sock.makefile("rb", buffering=1 << 20)

    def close(self):
        """Closes this client's connection, so another client (the C driver)
        can connect: qemu-ga serves one connection at a time."""
        if self.sock:
            self.reader.close()
            self.sock.close()
            self.sock = None

    def call(self, command, **arguments):
        if not self.sock:
            self.connect()
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        line = self.reader.readline(QGA_REPLY_MAX)
        if not line.endswith(b"\n"):
            raise RuntimeError(f"qemu-ga sent no complete reply to {command}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"qemu-ga {command} failed: {reply['error']}")
        return reply["return"]

    def write_file(self, source, dest, chunk):
        """Copies the local file source to dest with guest-file-write."""
        handle = self.call("guest-file-open", path=dest, mode="w")
        try:
            with open(source, "rb") as f:
                while True:
                    data = f.read(chunk)
                    if not data:
                        break
                    written = self.call("guest-file-write", handle=handle,
                                        **{"buf-b64": base64.b64encode(data).decode()})
                    if written["count"] != len(data):
                        raise RuntimeError(f"qemu-ga wrote {written['count']} of {len(data)}")
            self.call("guest-file-flush", handle=handle)
        finally:
            self.call("guest-file-close", handle=handle)

    def read_file(self, source, dest, chunk):
        """Copies source to the local file dest with guest-file-read."""
        handle = self.call("guest-file-open", path=source, mode="r")
        try:
            with open(dest, "wb") as f:
                while True:
                    data = self.call("guest-file-read", handle=handle, count=chunk)
                    f.write(base64.b64decode(data["buf-b64"]))
                    if data["eof"]:
                        break
        finally:
            self.call("guest-file-close", handle=handle)

    def rss_kib(self):
        return common.proc_status(self.proc.pid, "VmRSS")


# Shell startup files of the login user that sshd's `bash -c COMMAND` reads
# (Debian's bash reads ~/.bashrc when started by sshd). They belong to the
# machine, not to ssh, and can cost more than ssh itself.
SHELL_STARTUP_FILES = (".bashrc", ".profile", ".bash_profile", ".bash_login")


def mask_shell_startup_files(session):
    """Bind-mounts /dev/null over root's shell startup files. Must run in the
    benchmark's private mount namespace: the machine's files stay as they are."""
    if os.environ.get("EMBER_BENCH_IN_NS") != "1":
        raise RuntimeError("masking shell startup files needs a private mount namespace")
    home = os.path.expanduser("~root")
    for name in SHELL_STARTUP_FILES:
        path = os.path.join(home, name)
        if os.path.isfile(path):
            common.run(["mount", "--bind", "/dev/null", path])
            session.defer(common.run, ["umount", path])


class Sshd:
    """sshd -D on 127.0.0.1:PORT with a config, host key, client key and
    known_hosts of its own; `ssh_argv()` is a client command line for it.
    Root's shell startup files are masked (mask_shell_startup_files)."""

    def __init__(self, session):
        mask_shell_startup_files(session)
        directory = session.path("ssh")
        os.makedirs(directory, mode=0o700)
        self.directory = directory
        self.host_key = os.path.join(directory, "host_ed25519")
        self.client_key = os.path.join(directory, "client_ed25519")
        for key in (self.host_key, self.client_key):
            common.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        authorized = os.path.join(directory, "authorized_keys")
        os.rename(self.client_key + ".pub", authorized)
        self.port = free_tcp_port()
        with open(self.host_key + ".pub") as f:
            host_public = f.read().split()
        self.known_hosts = os.path.join(directory, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n")
        self.config = os.path.join(directory, "sshd_config")
        with open(self.config, "w") as f:
            f.write(f"ListenAddress 127.0.0.1:{self.port}\n"
                    f"HostKey {self.host_key}\n"
                    f"AuthorizedKeysFile {authorized}\n"
                    f"PidFile {os.path.join(directory, 'sshd.pid')}\n"
                    "PermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\n"
                    "UsePAM no\n"
                    "StrictModes no\n"
                    "PrintMotd no\n"
                    "UseDNS no\n"
                    "Subsystem sftp internal-sftp\n")
        # sshd refuses to start without its privilege separation directory;
        # /run is a tmpfs, and the directory is left for the system's sshd.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = session.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", self.config],
                                  log_name="sshd.log")
        wait_for_port(self.port, self.proc, "sshd")

    def client_options(self):
        return ["-F", "/dev/null", "-i", self.client_key,
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR"]

    def ssh_argv(self, extra=()):
        return (["ssh"] + self.client_options() + list(extra)
                + ["-p", str(self.port), "root@127.0.0.1"])

    def scp_argv(self, source, dest):
        return ["scp", "-q"] + self.client_options() + ["-P", str(self.port), source, dest]

    def rss_kib(self):
        return common.proc_status(self.proc.pid, "VmRSS")


def wait_for_path(path, proc, name):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode} before "
                               f"creating {path}")
        if os.path.exists(path):
            return
        time.sleep(0.01)
    raise RuntimeError(f"{name} did not create {path} within {START_TIMEOUT_S} s")


def wait_for_port(port, proc, name):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode} before "
                               f"listening on 127.0.0.1:{port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
