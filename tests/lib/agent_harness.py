"""Start ember-agent on a Unix socket (or 127.0.0.1) in a test's directory.

Usage:
    with Agent(binary, tmp_path) as agent:
        subprocess.run([emberctl, "-c", agent.addr, "ping"])

The agent's stderr goes to agent.log_path; stop() terminates the process that
start() created (by PID) and waits for it.
"""
import os
import socket
import subprocess
import time

from guest_build import runner_prefix


class Agent:
    def __init__(self, binary, workdir, args=(), tcp=False, token=None, env=None):
        self.binary = binary
        self.workdir = str(workdir)
        self.args = list(args)
        self.tcp = tcp
        self.token = token
        self.env = env
        self.proc = None
        self.log_path = os.path.join(self.workdir, "agent.log")
        if tcp:
            self.port = free_tcp_port()
            self.addr = f"tcp:127.0.0.1:{self.port}"
            self.listen = self.addr
        else:
            self.socket_path = os.path.join(self.workdir, "agent.sock")
            self.addr = f"unix:{self.socket_path}"
            self.listen = self.addr
        self.token_path = None
        if token is not None:
            self.token_path = os.path.join(self.workdir, "token")
            with open(self.token_path, "w") as f:
                f.write(token)
            os.chmod(self.token_path, 0o600)

    def command(self):
        # An aarch64 agent runs under EMBER_GUEST_RUNNER (qemu-aarch64-static).
        cmd = runner_prefix(self.binary) + [self.binary, "--listen", self.listen] + self.args
        if self.token_path:
            cmd += ["--token-file", self.token_path]
        return cmd

    def start(self, timeout=10.0):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ember-agent exited with {self.proc.returncode}: {self.log()}")
            if self._listening():
                return self
            time.sleep(0.01)
        raise RuntimeError(f"ember-agent did not listen within {timeout}s: {self.log()}")

    def _listening(self):
        if self.tcp:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        # The socket file appears at bind(2), before listen(2): only a
        # successful connection proves the agent accepts clients.
        if not os.path.exists(self.socket_path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(self.socket_path)
                return True
            except OSError:
                return False

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()



def child_pids(pid):
    """Returns the child processes of pid (copy workers, for an agent), zombies
    included."""
    pids = []
    task_dir = f"/proc/{pid}/task"
    for task in os.listdir(task_dir):
        with open(os.path.join(task_dir, task, "children")) as f:
            pids += [int(p) for p in f.read().split()]
    return pids

def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
