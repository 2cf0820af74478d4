"""Snapshots and clones for real: a running guest with a long exec session is
saved to a file with QEMU migration, then the same file is restored twice as
two clones, each with its own hostfwd port. In each clone `emberctl resume`
puts the clock right, the clones' random UUIDs and getrandom output differ
after the reseed, and the exec session reattaches and finishes with its whole
output."""
import re
import subprocess
import time

from ember_vm import EmberVM
from guest_image import AGENT_TCP_PORT, base_config
from qemu import Machine

CLONES = 2
# The session prints one numbered line a second for this long, so it is still
# running when the guest is saved and finishes in each clone.
SESSION_LINES = 20
CLOCK_TOLERANCE_S = 1.0


def test_snapshot_two_clones(tmp_path, kernel, ember_guest):
    guest = ember_guest(base_config())
    # An attached session: its connection dies with the saved QEMU, and each
    # clone reattaches by the session id that `ps` lists.
    client = guest.popen("exec", "--", "/bin/sh", "-c",
                         f"for i in $(seq 1 {SESSION_LINES}); do echo line-$i; sleep 1; done",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert client.stdout.readline() == "line-1\n"
    listed = [line.split() for line in guest.ctl("ps", check=True).stdout.splitlines()[1:]]
    running = [fields[0] for fields in listed if "running" in fields and "seq" not in fields]
    assert len(running) == 1, listed
    session = running[0]

    state = tmp_path / "guest.state"
    source = guest.machine
    source.save(str(state))
    source.kill()
    client.kill()
    client.wait()
    # A clone's clock is behind by the time the file sat on disk.
    time.sleep(3)

    clones = []
    try:
        for index in range(CLONES):
            vm = Machine(kernel, initrd=source.initrd, agent_port=AGENT_TCP_PORT,
                         append=source.append, incoming=f"exec:cat {state}",
                         timeout=180, name=f"clone{index}").start()
            clones.append(EmberVM(vm, guest.emberctl, open(guest.token_path).read(), tmp_path))
            vm.resume_incoming()

        uuids, randoms = [], []
        for clone in clones:
            clone.wait_ready()
            clone.ctl("resume", check=True)
            low, high = clone.clock_offset()
            assert low > -CLOCK_TOLERANCE_S, f"clone behind by {-low:.2f}s or more"
            assert high < CLOCK_TOLERANCE_S, f"clone ahead by {high:.2f}s or more"
            uuids.append(clone.run("cat /proc/sys/kernel/random/uuid").strip())
            randoms.append(clone.run("head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'"))

            attached = clone.ctl("attach", session, timeout=SESSION_LINES + 60)
            assert attached.returncode == 0, attached.stderr
            lines = re.findall(r"^line-(\d+)$", attached.stdout, re.M)
            assert lines == [str(i) for i in range(1, SESSION_LINES + 1)]
        assert len(set(uuids)) == CLONES
        assert len(set(randoms)) == CLONES
    except BaseException:
        for clone in clones:
            clone.machine.close(keep=True)
        raise
    for clone in clones:
        clone.machine.close()
