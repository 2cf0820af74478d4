"""The agent's guard against freezing the filesystem it runs from, checked in
the machine's initial PID namespace, where the namespace guard does not
apply. The agent binary runs from an ext4 image that the test creates and
mounts in a private mount namespace, so even a broken guard could freeze only
that image. The agent is never started with --freeze-all here: with it, a
request without mount points would freeze the machine's filesystems."""
import os
import subprocess
import time

import pytest

IMAGE_MB = 32


def make_image(path):
    subprocess.run(["truncate", "-s", f"{IMAGE_MB}M", str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(path)], check=True)


@pytest.fixture
def agent_on_image(tmp_path, ember_bin):
    """Starts ember-agent from a copy on its own image, mounted at tmp/own;
    a second image is mounted at tmp/other. Yields (socket address, own
    mount point, other mount point)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices and mount namespaces")

    own, other = tmp_path / "own", tmp_path / "other"
    for name in ("own", "other", "run", "hooks"):
        (tmp_path / name).mkdir()
    make_image(tmp_path / "own.ext4")
    make_image(tmp_path / "other.ext4")

    sock = tmp_path / "agent.sock"
    script = (f"set -e; mount -o loop {tmp_path}/own.ext4 {own}; "
              f"mount -o loop {tmp_path}/other.ext4 {other}; "
              f"cp {ember_bin('ember-agent')} {own}/ember-agent; "
              f"exec {own}/ember-agent --listen unix:{sock} --run-dir {tmp_path}/run "
              f"--hooks-dir {tmp_path}/hooks")
    log = open(tmp_path / "agent.log", "wb")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                             "sh", "-c", script], stdout=log, stderr=subprocess.STDOUT)

    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.02)
        yield f"unix:{sock}", str(own), str(other)
    finally:
        # SIGTERM: the agent thaws whatever it froze before it exits, and the
        # mounts and their loop devices go with the mount namespace.
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_own_filesystem_needs_freeze_all(agent_on_image, ember_bin):
    addr, own, other = agent_on_image
    emberctl = ember_bin("emberctl")

    rejected = subprocess.run([emberctl, "-c", addr, "freeze", own], capture_output=True,
                              text=True, timeout=30)
    assert rejected.returncode != 0
    assert (f"freezing '{own}' needs --freeze-all or the boot config's freeze_all, because "
            "it contains the agent's own executable") in rejected.stderr
    status = subprocess.run([emberctl, "-c", addr, "fsstatus"], capture_output=True,
                            text=True, timeout=30)
    assert "frozen: no" in status.stdout

    # Another filesystem is frozen and thawed as usual.
    frozen = subprocess.run([emberctl, "-c", addr, "freeze", other], capture_output=True,
                            text=True, timeout=30)
    assert frozen.returncode == 0, frozen.stderr
    assert f"frozen   {other} ext4" in frozen.stdout
    # No host state: in the initial PID namespace the agent would set the clock.
    thawed = subprocess.run([emberctl, "-c", addr, "thaw", "--no-clock", "--no-entropy"],
                            capture_output=True, text=True, timeout=30)
    assert thawed.returncode == 0, thawed.stderr
    assert f"thawed   {other} ext4" in thawed.stdout
