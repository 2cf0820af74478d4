"""A booted ember guest driven from the host with emberctl.

Usage:
    vm = EmberVM(machine, emberctl_path, token, workdir)
    vm.wait_ready()
    result = vm.ctl("exec", "--", "uname", "-r")

ctl() runs `emberctl -c tcp:127.0.0.1:PORT --token-file FILE ARGS...` with a
timeout and returns the CompletedProcess (text output). Readiness is
`emberctl wait-ready`, never a fixed sleep: QEMU's user networking accepts a
forwarded connection before the guest listens.
"""
import os
import re
import subprocess
import tempfile
import time

# Time for a TCG guest to boot, load its modules and start the agent.
READY_TIMEOUT_S = 60
CTL_TIMEOUT_S = 60
# wait-ready runs in rounds of this many seconds, checking QEMU in between.
# Short rounds also bound a known delay. QEMU's user networking accepts a
# connection before the guest's eth0 is up and retransmits its SYN into the
# guest with backoff. A wait-ready stuck on that connection does not reconnect
# until its timeout.
READY_ROUND_S = 1


class EmberVM:
    def __init__(self, machine, emberctl, token, workdir):
        self.machine = machine
        self.emberctl = emberctl
        fd, self.token_path = tempfile.mkstemp(prefix="token-", dir=str(workdir))
        with os.fdopen(fd, "w") as f:
            f.write(token)

    def command(self, *args):
        return [self.emberctl, "-c", self.machine.agent_address, "--token-file",
                self.token_path, *args]

    def ctl(self, *args, timeout=CTL_TIMEOUT_S, input=None, check=False):
        """Runs emberctl ARGS against this guest and returns the CompletedProcess."""
        proc = subprocess.run(self.command(*args), capture_output=True, text=True,
                              input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"emberctl {' '.join(args)} exited with {proc.returncode}: "
                                 f"{proc.stderr}\n{self.machine.describe()}")
        return proc

    def popen(self, *args, **options):
        return subprocess.Popen(self.command(*args), text=True, **options)

    def run(self, script, timeout=CTL_TIMEOUT_S, check=True):
        """Runs the shell SCRIPT in the guest through `emberctl exec` and
        returns its stdout."""
        return self.ctl("exec", "--", "/bin/sh", "-c", script, timeout=timeout,
                        check=check).stdout

    def clock_offset(self):
        """Returns the guest's wall clock minus the host's, in seconds, as a
        (low, high) range as wide as the exec's round trip. The guest time
        comes from busybox adjtimex, which only reads the clock when given no
        options."""
        before = time.time()
        output = self.run("adjtimex")
        after = time.time()
        seconds = re.search(r"time\.tv_sec:\s*(\d+)", output)
        micros = re.search(r"time\.tv_usec:\s*(\d+)", output)
        if not seconds or not micros:
            raise AssertionError(f"no time in the guest's adjtimex output:\n{output}")
        guest = int(seconds.group(1)) + int(micros.group(1)) / 1e6
        return guest - after, guest - before

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Waits for the agent with `emberctl wait-ready`, in short rounds so
        that a guest that powered off fails at once instead of at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.ctl("wait-ready", "--timeout", str(READY_ROUND_S),
                            timeout=READY_ROUND_S + 10)
            if proc.returncode == 0:
                return self
            if self.machine.proc.poll() is not None:
                raise AssertionError(f"guest powered off before its agent was ready: "
                                     f"{proc.stderr}\n{self.machine.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"agent not ready within {timeout}s: {proc.stderr}\n"
                                     f"{self.machine.describe()}")
