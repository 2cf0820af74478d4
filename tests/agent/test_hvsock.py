"""The hybrid vsock handshake (Firecracker, Cloud Hypervisor) against a Unix
socket proxy that this test starts and that forwards to the agent's socket.
No AF_VSOCK socket is involved."""
import os
import subprocess
import time

from proxy import HvsockProxy


def test_hvsock_exec_through_handshake(agent, ctl, short_dir):
    with HvsockProxy(os.path.join(short_dir, "v.sock"), 1023, agent.addr) as vmm:
        r = ctl(f"hvsock:{short_dir}/v.sock:1023", "exec", "--", "echo", "through vmm")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"through vmm\n"
        assert vmm.handshakes == [b"CONNECT 1023\n"]


def test_hvsock_guest_not_listening_yet(start_agent, emberctl, short_dir):
    late = os.path.join(short_dir, "late")
    vmm = HvsockProxy(os.path.join(short_dir, "v.sock"), 1023, f"unix:{late}/agent.sock")
    try:
        client = subprocess.Popen([emberctl, "-c", f"hvsock:{short_dir}/v.sock:1023",
                                   "--connect-timeout", "15", "ping"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.0)
        assert client.poll() is None
        start_agent(name="late")
        out, err = client.communicate(timeout=20)
        assert client.returncode == 0, err
        assert out.startswith(b"ok:")
        assert len(vmm.handshakes) >= 3
        assert all(h == b"CONNECT 1023\n" for h in vmm.handshakes)
    finally:
        vmm.close()


def test_hvsock_rejected_port_times_out(agent, ctl, short_dir):
    with HvsockProxy(os.path.join(short_dir, "v.sock"), 1023, agent.addr) as vmm:
        start = time.monotonic()
        r = ctl(f"hvsock:{short_dir}/v.sock:2000", "ping",
                global_args=["--connect-timeout", "0.5"])
        assert r.returncode == 123
        assert b"CONNECT 2000" in r.stderr
        assert time.monotonic() - start < 5
        assert len(vmm.handshakes) >= 2


def test_hvsock_vmm_socket_missing(ctl, short_dir):
    r = ctl(f"hvsock:{short_dir}/absent.sock:1023", "ping",
            global_args=["--connect-timeout", "0.2"])
    assert r.returncode == 123
    assert b"No such file" in r.stderr
