"""The real AF_VSOCK path, inside the guest only: with vsock and
vsock_loopback loaded, the agent listens on vsock and a client in the same
guest connects through CID 1 (loopback). An unprivileged client is rejected
and a client allowed by the configuration can exec. Nothing on the host
touches AF_VSOCK: emberctl runs inside the guest, started through exec."""
from guest_image import AGENT_VSOCK_PORT, BASE_MODULES, VSOCK_MODULES, base_config

LOOPBACK_CID = 1


def test_vsock_loopback_peer_checks(ember_guest):
    config = base_config()
    config["agent"]["listen"].append(f"vsock:{AGENT_VSOCK_PORT}")
    config["agent"]["allow_cids"] = [2, LOOPBACK_CID]
    config["agent"]["allow_uids"] = [0]
    guest = ember_guest(config, modules=BASE_MODULES + VSOCK_MODULES)
    client = ["/bin/emberctl", "-c", f"vsock:{LOOPBACK_CID}:{AGENT_VSOCK_PORT}"]

    allowed = guest.ctl("exec", "--", *client, "exec", "--", "echo", "through-vsock")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "through-vsock"

    rejected = guest.ctl("exec", "-u", "nobody", "--", *client, "exec", "--", "echo", "no")
    assert rejected.returncode != 0
    assert "through-vsock" not in rejected.stdout
    assert "permission" in rejected.stderr.lower() or "reject" in rejected.stderr.lower(), \
        rejected.stderr
