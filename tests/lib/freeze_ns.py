"""The freeze suite's namespace, images and agent.

FreezeNs is a private mount, PID and network namespace held by a sleeping
process. The test creates ext4 images, attaches them to loop devices and
mounts them under its temporary directory inside that namespace only.
ember-agent runs inside the namespace on a Unix socket, with its run
directory, hooks directory and workload cgroup pointed at the test's own. The
agent is never started with --freeze-all.

Safety: FreezeNs.freeze() refuses any mount point that this fixture did not
mount, and teardown thaws every test mount (fsfreeze -u) before it stops the
agent, kills the namespace and detaches the loop devices.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import time
import uuid

from agent_harness import Agent

# cgroup2 hierarchy without controllers on these machines; cgroup.freeze works there.
CGROUP2_ROOT = "/sys/fs/cgroup/unified"
MOUNT_LINE = re.compile(r"^(frozen|thawed|skipped|pending)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+\((.*)\))?$")


def child_pid(proc, timeout=10.0):
    """Returns the pid of the first child of proc (nsenter and unshare fork),
    or None when proc exits first: its child has then finished too."""
    deadline = time.monotonic() + timeout
    path = f"/proc/{proc.pid}/task/{proc.pid}/children"
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                children = f.read().split()
        except FileNotFoundError:
            children = []
        if children:
            return int(children[0])
        if proc.poll() is not None:
            return None
        time.sleep(0.01)
    raise RuntimeError(f"process {proc.pid} started no child within {timeout}s")


# Protobuf wire encoding by hand, for requests and replies that emberctl
# would not produce.

def varint(value):
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((number << 3) | 2) + varint(len(data)) + data


def send_request(agent, op_number, op_body):
    """Sends Request{version: 1, <op_number>: op_body}, encoded by hand so the
    test can pass values that emberctl rejects, and returns the reply's bytes
    as text (an Error frame carries its message as plain bytes)."""
    request = field_varint(1, 1) + field_bytes(op_number, op_body)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(agent.socket_path)
        s.sendall(struct.pack(">I", len(request)) + request)
        header = b""
        while len(header) < 4:
            header += s.recv(4 - len(header))
        length = struct.unpack(">I", header)[0]
        body = b""
        while len(body) < length:
            body += s.recv(length - len(body))
    return body.decode(errors="replace")


def parse_mounts(output):
    """Maps mount point -> (state, fstype, device, reason) from emberctl's mount lines."""
    mounts = {}
    for line in output.splitlines():
        m = MOUNT_LINE.match(line)
        if m:
            mounts[m.group(2)] = (m.group(1), m.group(3), m.group(4), m.group(5) or "")
    return mounts


class NsAgent(Agent):
    """ember-agent inside the test namespace; stop() and kill() act on the
    agent's own pid (the child of nsenter)."""

    def __init__(self, ns, extra_args=(), binary=None):
        self.ns = ns
        args = ["--run-dir", ns.run_dir, "--hooks-dir", ns.hooks_dir,
                "--workload-cgroup", ns.cgroup_dir or os.path.join(ns.dir, "no-cgroup")]
        super().__init__(binary or ns.agent_binary, ns.dir, args + list(extra_args))
        self.agent_pid = None

    def command(self):
        return self.ns.enter_command() + super().command()

    def start(self, timeout=10.0):
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        super().start(timeout)
        self.agent_pid = child_pid(self.proc)
        return self

    def signal(self, sig):
        if self.proc and self.proc.poll() is None and self.agent_pid:
            os.kill(self.agent_pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


class FreezeNs:
    def __init__(self, tmp_path, ember_bin):
        self.dir = str(tmp_path)
        self.agent_binary = ember_bin("ember-agent")
        self.emberctl_binary = ember_bin("emberctl")
        self.run_dir = os.path.join(self.dir, "run")
        self.hooks_dir = os.path.join(self.dir, "hooks")
        self.hook_log = os.path.join(self.dir, "hooks.log")
        self.cgroup_dir = None
        for d in (self.run_dir, os.path.join(self.hooks_dir, "freeze.d"),
                  os.path.join(self.hooks_dir, "resume.d")):
            os.makedirs(d)
        self.loops = []
        self.own_mounts = []
        self.processes = []
        self.agents = []
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--net", "--fork", "--propagation", "private",
             "--kill-child", "sleep", "infinity"], stdin=subprocess.DEVNULL)
        self.ns_pid = child_pid(self.holder)

    # ------------------------------------------------------------ namespace

    def enter_command(self):
        return ["nsenter", "-t", str(self.ns_pid), "-m", "-p", "-n", "--"]

    def run(self, *cmd, check=True, timeout=60):
        return subprocess.run(self.enter_command() + list(cmd), check=check, timeout=timeout,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)

    def spawn(self, *cmd):
        """Starts a process inside the namespace; returns (nsenter Popen, pid)."""
        proc = subprocess.Popen(self.enter_command() + list(cmd), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pid = child_pid(proc)
        self.processes.append((proc, pid))
        return proc, pid

    # ------------------------------------------------------------ mounts

    def image(self, name, size_mb=16):
        """Makes NAME.img, attaches it to a loop device and mounts it at mnt/NAME."""
        path = os.path.join(self.dir, f"{name}.img")
        with open(path, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path], check=True,
                       capture_output=True)
        loop = subprocess.run(["losetup", "--find", "--show", path], check=True,
                              capture_output=True, text=True).stdout.strip()
        self.loops.append(loop)
        mountpoint = self.mountpoint(name)
        self.run("mount", "-t", "ext4", loop, mountpoint)
        self.own_mounts.append(mountpoint)
        return mountpoint

    def bind(self, source, name):
        mountpoint = self.mountpoint(name)
        self.run("mount", "--bind", source, mountpoint)
        self.own_mounts.append(mountpoint)
        return mountpoint

    def tmpfs(self, name):
        mountpoint = self.mountpoint(name)
        self.run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mountpoint)
        self.own_mounts.append(mountpoint)
        return mountpoint

    def umount(self, mountpoint):
        """Unmounts one of this fixture's mounts; returns the umount process.
        Once unmounted, the path leaves own_mounts, so that neither freeze()
        nor teardown's fsfreeze ever reaches the filesystem underneath."""
        assert mountpoint in self.own_mounts, mountpoint
        proc = self.run("umount", mountpoint, check=False)
        if proc.returncode == 0:
            self.own_mounts.remove(mountpoint)
        return proc

    def mountpoint(self, name):
        path = os.path.join(self.dir, "mnt", name)
        os.makedirs(path, exist_ok=True)
        return path

    def image_path(self, name):
        return os.path.join(self.dir, f"{name}.img")

    # ------------------------------------------------------------ agent and CLI

    def agent(self, extra_args=(), binary=None):
        """Starts ember-agent in the namespace; binary is a path inside it."""
        agent = NsAgent(self, extra_args, binary)
        self.agents.append(agent)
        return agent.start()

    def ctl(self, agent, *args, check=True, timeout=60):
        proc = subprocess.run([self.emberctl_binary, "-c", agent.addr] + list(args),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"emberctl {' '.join(args)} exited with {proc.returncode}: "
                                 f"{proc.stderr}\nagent log:\n{agent.log()}")
        return proc

    def freeze(self, agent, *mountpoints, options=(), check=True):
        for path in mountpoints:
            # Never let a test name a filesystem it did not create.
            assert path in self.own_mounts or not path.startswith("/"), path
        return self.ctl(agent, "freeze", *options, *mountpoints, check=check)

    def hook(self, kind, name, body):
        path = os.path.join(self.hooks_dir, kind, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\necho \"{name} $1\" >> {self.hook_log}\n{body}\n")
        os.chmod(path, 0o755)
        return path

    def hook_lines(self):
        try:
            with open(self.hook_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def make_cgroup(self):
        self.cgroup_dir = os.path.join(CGROUP2_ROOT, f"ember-freeze-test-{uuid.uuid4().hex[:8]}")
        os.mkdir(self.cgroup_dir)
        return self.cgroup_dir

    # ------------------------------------------------------------ teardown

    def close(self):
        # Thaw first: writers blocked on a frozen filesystem cannot be killed.
        for mountpoint in reversed(self.own_mounts):
            self.run("fsfreeze", "--unfreeze", mountpoint, check=False)
        for agent in self.agents:
            agent.stop()
        for proc, pid in self.processes:
            if proc.poll() is None and pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        self.holder.kill()
        self.holder.wait(timeout=10)
        if self.cgroup_dir:
            self._remove_cgroup()
        for loop in self.loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)

    def _remove_cgroup(self):
        deadline = time.monotonic() + 5
        while True:
            try:
                with open(os.path.join(self.cgroup_dir, "cgroup.freeze"), "w") as f:
                    f.write("0")
                os.rmdir(self.cgroup_dir)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
