"""Build a busybox test root on its own filesystem and boot ember-init in it
as PID 1 of fresh namespaces.

    with TestRoot(tmp_path, ember_bin("ember-init")) as root:
        root.write_config({"process": {"args": ["/bin/echo", "hi"]}})
        result = root.boot()
        assert result.exit_line == "ember: exit status 0"
        assert result.powered_off

The root is a tmpfs (or a loop-mounted ext4 image with fs="ext4") mounted at
TMP/root, never a directory of the machine's root filesystem, because init
remounts its root read-only at shutdown. A separate tmpfs covers its /dev
before init starts, since the machine's devtmpfs is shared with it. Init runs
under `unshare --pid --mount --net --uts --ipc --cgroup --fork` inside a cgroup
that this helper creates under /sys/fs/cgroup/unified (so the namespace's
cgroup root is test-owned) and removes afterwards. Its kernel command line is
the file given by EMBER_CMDLINE_FILE. The unshare process's wait status shows
power-off (killed by SIGINT) or reboot (killed by SIGHUP).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

BUSYBOX = "/bin/busybox"
CGROUP2 = "/sys/fs/cgroup/unified"
UNSHARE = ["unshare", "--pid", "--mount", "--net", "--uts", "--ipc", "--cgroup", "--fork"]
CMDLINE_IN_ROOT = "/etc/ember/test-cmdline"
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001:Bob:/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
tty:x:5:
staff:x:50:alice,bob
alice:x:1000:
bob:x:1001:
devs:x:2000:alice
nogroup:x:65534:
"""


class BootResult:
    def __init__(self, returncode, output):
        self.returncode = returncode
        self.output = output

    @property
    def lines(self):
        return self.output.splitlines()

    @property
    def exit_line(self):
        """The last console line, "ember: exit status N" after a clean shutdown."""
        lines = [line for line in self.lines if line.strip()]
        return lines[-1] if lines else ""

    @property
    def powered_off(self):
        # The kernel reports a PID namespace init's power-off or halt as that
        # init killed by SIGINT; unshare re-raises it on itself.
        return self.returncode == -signal.SIGINT

    @property
    def rebooted(self):
        return self.returncode == -signal.SIGHUP


class TestRoot:
    __test__ = False  # not a pytest test class despite its name

    def __init__(self, workdir, init_binary, fs="tmpfs", size_mb=64, agent_binary=None):
        self.workdir = str(workdir)
        self.init_binary = init_binary
        self.agent_binary = agent_binary
        self.fs = fs
        self.size_mb = size_mb
        self.path = os.path.join(self.workdir, "root")
        self.image = os.path.join(self.workdir, "root.img")
        self.cgroup = os.path.join(CGROUP2, "ember-test-" + uuid.uuid4().hex[:12])
        self.proc = None
        self._output = bytearray()
        self._reader = None
        self._mounted = []

    # Building -------------------------------------------------------------

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def build(self):
        os.makedirs(self.path, exist_ok=True)
        if self.fs == "ext4":
            subprocess.run(["truncate", "-s", f"{self.size_mb}M", self.image], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", self.image], check=True)
            subprocess.run(["mount", "-o", "loop", self.image, self.path], check=True)
        else:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755",
                            "ember-test-root", self.path], check=True)
        self._mounted.append(self.path)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc/ember", "dev", "proc", "sys",
                  "run", "tmp", "root", "home/alice", "home/bob"):
            os.makedirs(self.join(d), exist_ok=True)
        os.chmod(self.join("tmp"), 0o1777)
        shutil.copy2(BUSYBOX, self.join("bin/busybox"))
        applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for applet in applets:
            link = self.join(applet)
            if not os.path.lexists(link):
                os.symlink("/bin/busybox", link)
        shutil.copy2(self.init_binary, self.join("sbin/ember-init"))
        if self.agent_binary:
            shutil.copy2(self.agent_binary, self.join("sbin/ember-agent"))
        self.write("etc/passwd", PASSWD)
        self.write("etc/group", GROUP)
        self.write("etc/hosts", "127.0.0.1\tlocalhost\n")
        self.write(CMDLINE_IN_ROOT, "")
        # A tmpfs on /dev: the machine's devtmpfs must never be shared with a test.
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "ember-test-dev",
                        self.join("dev")], check=True)
        self._mounted.append(self.join("dev"))
        for name in ("null", "zero", "full", "random", "urandom", "tty"):
            src = os.stat("/dev/" + name)
            os.mknod(self.join("dev", name), 0o666 | 0o020000, src.st_rdev)
        os.makedirs(CGROUP2, exist_ok=True)
        os.mkdir(self.cgroup)

    def join(self, *parts):
        return os.path.join(self.path, *[p.lstrip("/") for p in parts])

    def write(self, rel, text, mode=0o644):
        path = self.join(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def read(self, rel):
        with open(self.join(rel), errors="replace") as f:
            return f.read()

    def write_config(self, config):
        self.write("etc/ember/config.json", json.dumps(config, indent=2))

    def set_cmdline(self, text):
        self.write(CMDLINE_IN_ROOT, text)

    # Running --------------------------------------------------------------

    def command(self):
        script = f'echo $$ > {self.cgroup}/cgroup.procs && exec "$@"'
        return ["sh", "-c", script, "sh"] + UNSHARE + ["chroot", self.path, "/sbin/ember-init"]

    def start(self, stdin=subprocess.DEVNULL, read_console=True):
        """Starts init. With read_console=False the console pipe is not read
        until read_console_later() is called, as with a stalled serial port."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "EMBER_CMDLINE_FILE": CMDLINE_IN_ROOT}
        self.proc = subprocess.Popen(self.command(), stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        if read_console:
            self._reader.start()
        return self.proc

    def read_console_later(self):
        if not self._reader.is_alive():
            self._reader.start()

    def _read_output(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            self._output += chunk

    @property
    def output(self):
        return self._output.decode(errors="replace")

    def wait_for_output(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None and self._reader and not self._reader.is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"{text!r} not on the console within {timeout}s:\n{self.output}")

    def wait(self, timeout=30.0):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"init did not shut down within {timeout}s:\n{self.output}")
        if not self._reader.is_alive() and not self._output:
            self.read_console_later()
        self._reader.join(timeout=5)
        return BootResult(self.proc.returncode, self.output)

    def boot(self, timeout=30.0, stdin=subprocess.DEVNULL):
        self.start(stdin=stdin)
        return self.wait(timeout)

    def init_pid(self, timeout=5.0):
        """The machine's PID of init (the unshare process's only child)."""
        deadline = time.monotonic() + timeout
        path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    children = f.read().split()
                if children:
                    pid = int(children[0])
                    if os.readlink(f"/proc/{pid}/exe").endswith("ember-init"):
                        return pid
            except OSError:
                pass
            time.sleep(0.005)
        raise AssertionError("init did not start")

    def in_root(self, rel):
        """A path inside the running init's root, including its own mounts."""
        return f"/proc/{self.init_pid()}/root/{rel.lstrip('/')}"

    def control(self, request, timeout=5.0):
        """Sends one control request to the running init and returns the reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(timeout)
            s.connect(self.in_root("/run/ember/control.sock"))
            s.send(json.dumps(request).encode())
            return json.loads(s.recv(65536))

    def wait_for_path(self, rel, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.path.exists(self.in_root(rel)):
                    return
            except AssertionError:
                pass
            time.sleep(0.01)
        raise AssertionError(f"{rel} did not appear in the root:\n{self.output}")

    def kill(self):
        """Kills the namespace (its init, by PID) and the unshare process."""
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.init_pid(timeout=0.5), signal.SIGKILL)
            except (AssertionError, ProcessLookupError):
                pass
            self.proc.kill()
            self.proc.wait()

    # Cleanup --------------------------------------------------------------

    def mount_image(self, rel, size_mb=16):
        """Mounts a new ext4 loop image at rel inside the root (before boot)."""
        image = os.path.join(self.workdir, rel.strip("/").replace("/", "-") + ".img")
        subprocess.run(["truncate", "-s", f"{size_mb}M", image], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        os.makedirs(self.join(rel), exist_ok=True)
        subprocess.run(["mount", "-o", "loop", image, self.join(rel)], check=True)
        self._mounted.append(self.join(rel))
        return self.join(rel)

    def cleanup(self):
        self.kill()
        for path in reversed(self._mounted):
            if subprocess.run(["umount", path], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", path], capture_output=True)
        self._mounted = []
        remove_cgroup(self.cgroup)


def remove_cgroup(path):
    """Removes a cgroup tree, children first, once its processes are gone."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for _ in range(100):
            try:
                os.rmdir(dirpath)
                break
            except OSError:
                time.sleep(0.01)
