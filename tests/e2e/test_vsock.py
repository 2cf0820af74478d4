"""The real AF_VSOCK path, inside the guest only. With vsock and
vsock_loopback loaded, the agent listens on vsock, and a client in the same
guest connects through CID 1 (loopback). The boot config's agent allows only
the host (CID 2), so an unprivileged in-guest client is rejected. A second
agent allowed by its configuration to accept CID 1 runs an exec. Nothing on
the host touches AF_VSOCK: emberctl runs inside the guest, started by exec."""
from guest_image import AGENT_VSOCK_PORT, BASE_MODULES, VSOCK_MODULES, base_config

LOOPBACK_CID = 1
SECOND_AGENT_PORT = 1100


def test_vsock_loopback_peer_checks(ember_guest):
    config = base_config()
    config["agent"]["listen"].append(f"vsock:{AGENT_VSOCK_PORT}")
    guest = ember_guest(config, modules=BASE_MODULES + VSOCK_MODULES)

    rejected = guest.ctl("exec", "-u", "nobody", "--", "/bin/emberctl", "-c",
                         f"vsock:{LOOPBACK_CID}:{AGENT_VSOCK_PORT}", "exec", "--", "echo", "no")
    assert rejected.returncode != 0
    assert rejected.stdout == ""
    assert f"CID {LOOPBACK_CID} is not allowed" in rejected.stderr

    guest.ctl("exec", "--detach", "--", "/sbin/ember-agent", "--listen",
              f"vsock:{SECOND_AGENT_PORT}", "--allow-cid", str(LOOPBACK_CID), check=True)
    allowed = guest.ctl("exec", "--", "/bin/emberctl", "-c",
                        f"vsock:{LOOPBACK_CID}:{SECOND_AGENT_PORT}", "--connect-timeout", "10",
                        "exec", "--", "echo", "through-vsock")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "through-vsock"
