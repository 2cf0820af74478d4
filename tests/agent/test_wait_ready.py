"""`emberctl wait-ready` against a VMM network that accepts before the guest
listens: QEMU's user-mode network accepts a forwarded connection at once and
sends nothing on it while the guest is still booting."""
import os

from proxy import Proxy


class SilentFirstProxy(Proxy):
    """Accepts the first connection and never replies on it; forwards the rest."""

    def __init__(self, target, listen_path):
        self.silent = []
        super().__init__(target, listen_path)

    def _serve(self, client):
        with self.lock:
            first = not self.silent
            if first:
                self.silent.append(client)
        if not first:
            super()._serve(client)

    def close(self):
        super().close()
        for sock in self.silent:
            sock.close()


def test_wait_ready_retries_unanswered_connection(agent, ctl):
    proxy = SilentFirstProxy(agent.addr, os.path.join(agent.workdir, "vmm.sock"))
    try:
        # Without a per-attempt reply timeout the first ping would sit on the
        # silent connection for the whole 20 s and fail.
        r = ctl(proxy.addr, "wait-ready", "--timeout", "20", timeout=30)
        assert r.returncode == 0, r.stderr
        assert proxy.connections >= 2
    finally:
        proxy.close()
