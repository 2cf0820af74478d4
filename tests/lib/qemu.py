"""Boot a microVM under QEMU for the end-to-end tests and the demo.

Usage:
    kernel = Kernel.from_cache()
    with Machine(kernel, initrd=path, append="ip=...", agent_port=1024) as vm:
        vm.wait_console("ember: exit status")
        emberctl("-c", vm.agent_address, ...)

Each machine runs `-M microvm` (ACPI on) with the Debian cloud kernel as its
uncompressed vmlinux (PVH), TCG unless EMBER_QEMU_ACCEL names another accelerator, user
networking with restrict=on and one hostfwd from 127.0.0.1:PORT to the guest's
agent port, and a QMP socket for stop/migrate/cont. Every machine:
  - has its own temporary directory (console.log, qmp.sock, qemu.log, qemu.pid);
  - runs under `timeout -s KILL`, a hard limit that still applies if the test
    process dies;
  - keeps its directory when it is closed after a failure (close(keep=True) or
    an exception out of the `with` block) and removes it otherwise.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DEFAULT_CACHE = "/var/tmp/ember-cache"
DEFAULT_MEMORY_MB = 256
# A hard limit for one machine; tests pass their own, shorter ones.
DEFAULT_TIMEOUT_S = 300
# The base command line measured to boot reliably under TCG: without
# tsc_early_khz a microvm guest hangs calibrating the TSC in about 1 of 9 boots.
BASE_CMDLINE = "console=ttyS0 quiet panic=-1 cryptomgr.notests"
# arm64 machines are `-M virt` (PL011 console, no TSC to calibrate).
ARM64_CMDLINE = "console=ttyAMA0 quiet panic=-1 cryptomgr.notests"
CONSOLE_POLL_S = 0.05


class QemuError(RuntimeError):
    """A machine failed to start, timed out or did not print what was expected."""


def cache_dir():
    return os.environ.get("EMBER_CACHE", DEFAULT_CACHE)


class Kernel:
    """A kernel fetched by scripts/fetch-kernel.sh: its image and module tree."""

    def __init__(self, directory):
        self.directory = directory
        self.vmlinux = os.path.join(directory, "vmlinux")
        self.bzimage = os.path.join(directory, "vmlinuz")
        self.modules = os.path.join(directory, "modules")
        # scripts/fetch-kernel.sh writes "Image" for arm64, "vmlinux" for amd64.
        self.image = os.path.join(directory, "Image")
        self.arch = "arm64" if os.path.exists(self.image) else "amd64"
        with open(os.path.join(directory, "VERSION")) as f:
            self.release, self.package_version = f.read().split()

    @classmethod
    def from_cache(cls, arch="amd64"):
        """Returns the kernel of ARCH that scripts/fetch-kernel.sh last fetched, or None."""
        directory = os.path.join(cache_dir(), "current" if arch == "amd64" else f"current-{arch}")
        if not os.path.exists(os.path.join(directory, "VERSION")):
            return None
        return cls(os.path.realpath(directory))

    def module_path(self, name):
        """Returns the guest path of module NAME (e.g. "virtio_blk")."""
        for line in open(os.path.join(self.modules, "modules.dep")):
            path = line.split(":", 1)[0]
            if os.path.basename(path) == name + ".ko":
                return f"/lib/modules/{self.release}/{path}"
        raise KeyError(f"module '{name}' not found in {self.modules}/modules.dep")

    def module_closure(self, names):
        """Returns the module files NAMES need, dependencies first, relative to
        the module tree (the order finit_module needs)."""
        deps = {}
        for line in open(os.path.join(self.modules, "modules.dep")):
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
        by_name = {os.path.basename(p)[:-len(".ko")]: p for p in deps}
        ordered = []

        def visit(path):
            if path in ordered:
                return
            # modules.dep lists indirect dependencies too, deepest last.
            for dep in reversed(deps[path]):
                visit(dep)
            ordered.append(path)

        for name in names:
            if name not in by_name:
                raise KeyError(f"module '{name}' not found in {self.modules}/modules.dep")
            visit(by_name[name])
        return ordered


def host_tsc_khz():
    """Returns the host TSC frequency in kHz: EMBER_TSC_KHZ, the kernel's own
    calibration from the kernel log, or /proc/cpuinfo's "cpu MHz"."""
    if os.environ.get("EMBER_TSC_KHZ"):
        return int(os.environ["EMBER_TSC_KHZ"])
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout
        found = re.findall(r"tsc: (?:Refined TSC clocksource calibration|Detected): "
                           r"([0-9.]+) MHz", log)
        if found:
            return int(float(found[-1]) * 1000)
    except (OSError, subprocess.SubprocessError):
        pass
    with open("/proc/cpuinfo") as f:
        match = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", f.read(), re.M)
    if not match:
        raise QemuError("cannot find the host TSC frequency: set EMBER_TSC_KHZ")
    return int(float(match.group(1)) * 1000)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Machine:
    """One QEMU microVM. Arguments:
    kernel      a Kernel
    initrd      path of an initramfs (cpio), or None
    disks       image paths, attached as virtio-blk /dev/vda, /dev/vdb, ...
    append      extra kernel command line (after BASE_CMDLINE and tsc_early_khz)
    agent_port  guest TCP port forwarded from 127.0.0.1:host_port, or None
    host_port   the host side of that forward (a free port when None)
    incoming    a QEMU -incoming URI: the machine starts paused from a snapshot
    timeout     hard limit in seconds for the QEMU process
    """

    def __init__(self, kernel, initrd=None, disks=(), append="", agent_port=None,
                 host_port=None, incoming=None, timeout=DEFAULT_TIMEOUT_S,
                 memory_mb=DEFAULT_MEMORY_MB, name="vm", use_bzimage=False):
        self.kernel = kernel
        self.initrd = initrd
        self.disks = list(disks)
        self.append = append
        self.agent_port = agent_port
        self.host_port = host_port or (free_tcp_port() if agent_port else None)
        self.incoming = incoming
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.use_bzimage = use_bzimage
        self.workdir = tempfile.mkdtemp(prefix=f"ember-qemu-{name}-")
        self.console_path = os.path.join(self.workdir, "console.log")
        self.qmp_path = os.path.join(self.workdir, "qmp.sock")
        self.qemu_log_path = os.path.join(self.workdir, "qemu.log")
        self.pid_path = os.path.join(self.workdir, "qemu.pid")
        self.proc = None
        self._qmp = None
        self._qmp_socket = None
        self.started_at = None
        self.exited_at = None

    @property
    def agent_address(self):
        return f"tcp:127.0.0.1:{self.host_port}"

    def cmdline(self):
        if self.kernel.arch == "arm64":
            return " ".join(filter(None, [ARM64_CMDLINE, self.append]))
        return " ".join(filter(None, [BASE_CMDLINE, f"tsc_early_khz={host_tsc_khz()}",
                                      self.append]))

    def machine_args(self, accel):
        """Returns the QEMU program and machine options for the kernel's architecture."""
        if self.kernel.arch == "arm64":
            # virt's virtio-mmio transports take the same virtio-*-device
            # devices as microvm's; -cpu max because TCG has no "host".
            return ["qemu-system-aarch64", "-M", "virt", "-accel", accel,
                    "-cpu", "host" if accel == "kvm" else "max"], self.kernel.image
        kernel = self.kernel.bzimage if self.use_bzimage else self.kernel.vmlinux
        cpu = ["-cpu", "host"] if accel == "kvm" else []
        return ["qemu-system-x86_64", "-M", "microvm,acpi=on", "-accel", accel] + cpu, kernel

    def command(self):
        accel = os.environ.get("EMBER_QEMU_ACCEL", "tcg")
        machine, kernel = self.machine_args(accel)
        cmd = ["timeout", "-s", "KILL", str(self.timeout), *machine,
               "-m", str(self.memory_mb),
               "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
               "-no-reboot", "-serial", f"file:{self.console_path}",
               "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
               "-pidfile", self.pid_path,
               "-kernel", kernel, "-append", self.cmdline()]
        if self.initrd:
            cmd += ["-initrd", self.initrd]
        for index, disk in enumerate(self.disks):
            cmd += ["-drive", f"id=disk{index},file={disk},format=raw,if=none",
                    "-device", f"virtio-blk-device,drive=disk{index}"]
        netdev = "user,id=net0,restrict=on"
        if self.agent_port:
            netdev += f",hostfwd=tcp:127.0.0.1:{self.host_port}-:{self.agent_port}"
        cmd += ["-netdev", netdev, "-device", "virtio-net-device,netdev=net0"]
        if self.incoming:
            cmd += ["-incoming", self.incoming]
        return cmd

    def start(self):
        open(self.console_path, "wb").close()
        log = open(self.qemu_log_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log)
        log.close()
        return self

    # ---------------------------------------------------------------- console

    def console(self):
        with open(self.console_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_console(self, pattern, timeout=60.0, start=0):
        """Waits until the console (from offset START) matches the regular
        expression PATTERN and returns the match. Raises QemuError on timeout or
        when QEMU exits first."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()
            match = regex.search(text, start)
            if match:
                return match
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited with {self.proc.returncode} before the console "
                                f"showed {pattern!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise QemuError(f"console did not show {pattern!r} within {timeout}s\n"
                                f"{self.describe()}")
            time.sleep(CONSOLE_POLL_S)

    def exit_status(self, timeout=60.0):
        """Waits for power-off and returns N from the last console line
        "ember: exit status N" (None when there is none)."""
        self.wait(timeout)
        found = re.findall(r"^ember: exit status (\d+)\s*$", self.console(), re.M)
        return int(found[-1]) if found else None

    def describe(self):
        tail = self.console()[-4000:]
        return (f"machine directory {self.workdir} (kept)\n--- console (last 4000 bytes)\n"
                f"{tail}\n--- qemu.log\n{open(self.qemu_log_path, errors='replace').read()}")

    # ---------------------------------------------------------------- process

    def wait(self, timeout=60.0):
        """Waits for QEMU to exit (the guest powered off) and returns its status."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise QemuError(f"guest did not power off within {timeout}s\n"
                            f"{self.describe()}") from None
        self.exited_at = self.exited_at or time.monotonic()
        if status == -signal.SIGKILL or status == 128 + signal.SIGKILL:
            raise QemuError(f"QEMU hit its hard timeout of {self.timeout}s\n{self.describe()}")
        return status

    def kill(self):
        """Stops QEMU at once (by the PID this object started)."""
        if self._qmp_socket is not None:
            self._qmp_socket.close()
            self._qmp = self._qmp_socket = None
        if self.proc and self.proc.poll() is None:
            # SIGTERM to `timeout` is forwarded to QEMU.
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Killing `timeout` alone would leave QEMU running without its
                # hard limit, so QEMU goes first, by the PID it wrote.
                self._kill_qemu_by_pidfile()
                self.proc.kill()
                self.proc.wait()

    def _kill_qemu_by_pidfile(self):
        try:
            with open(self.pid_path) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def close(self, keep=False):
        self.kill()
        if keep:
            print(f"\nkept machine directory {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *rest):
        self.close(keep=exc_type is not None)

    # ---------------------------------------------------------------- QMP

    def qmp(self, command, **arguments):
        """Runs one QMP command and returns its "return" value. The machine
        keeps one QMP connection open, because QEMU's QMP socket serves one
        client at a time and refuses a new one until it has seen the last
        one close."""
        if self._qmp is None:
            self._qmp = self._qmp_connect()
        self._qmp.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self._qmp.flush()
        return self._qmp_reply(command)

    def _qmp_connect(self):
        deadline = time.monotonic() + 10
        while not os.path.exists(self.qmp_path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise QemuError(f"no QMP socket at {self.qmp_path}\n{self.describe()}")
            time.sleep(CONSOLE_POLL_S)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.qmp_path)
        self._qmp_socket = sock
        stream = sock.makefile("rw")
        json.loads(stream.readline())  # the greeting
        stream.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
        stream.flush()
        self._qmp = stream
        self._qmp_reply("qmp_capabilities")
        return stream

    def _qmp_reply(self, command):
        while True:
            line = self._qmp.readline()
            if not line:
                raise QemuError(f"QMP connection closed during {command}\n{self.describe()}")
            reply = json.loads(line)
            if "event" in reply:
                continue
            if "error" in reply:
                raise QemuError(f"QMP {command} failed: {reply['error']}")
            return reply.get("return")

    def save(self, path, timeout=120.0):
        """Pauses the guest and writes its whole state to PATH (QEMU migration to
        a file). The guest stays paused."""
        self.qmp("stop")
        self.qmp("migrate", uri=f"exec:cat > {path}")
        deadline = time.monotonic() + timeout
        while True:
            status = self.qmp("query-migrate").get("status")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise QemuError(f"migration to {path} {status}")
            if time.monotonic() > deadline:
                raise QemuError(f"migration to {path} did not finish within {timeout}s")
            time.sleep(0.1)

    def resume_incoming(self, timeout=120.0):
        """Waits until a machine started with `incoming` has loaded its state,
        then lets it run."""
        deadline = time.monotonic() + timeout
        while self.qmp("query-status").get("status") == "inmigrate":
            if time.monotonic() > deadline:
                raise QemuError(f"incoming migration did not finish within {timeout}s")
            time.sleep(0.1)
        self.qmp("cont")
