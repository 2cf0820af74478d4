"""Freeze, thaw and resume on a real kernel. The ext4 root is frozen while a
writer runs, and a copy of the disk image taken meanwhile is clean. Also the
automatic thaw deadline, the clock correction and entropy reseed of `emberctl
resume`, and a graceful shutdown whose stop signal lets the entrypoint flush a
file onto the image."""
import hashlib
import re
import shutil
import subprocess
import time

from guest_image import base_config

WRITER = ("while true; do date >> /writer.log; sync; sleep 0.05; done")
AUTO_THAW_S = 3
CLOCK_SET_BACK_S = 120
CLOCK_TOLERANCE_S = 1.0


def freeze_config(args=("/bin/sh", "-c", WRITER)):
    config = base_config(args=args)
    config["agent"]["freeze_all"] = True
    return config


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def writer_size(guest):
    return int(guest.run("stat -c %s /writer.log").strip())


def test_frozen_root_copy_is_clean(tmp_path, disk_guest):
    guest = disk_guest(freeze_config())
    guest.run("while [ ! -s /writer.log ]; do sleep 0.1; done")

    guest.ctl("freeze", "/", check=True)
    assert "frozen: yes" in guest.ctl("fsstatus", check=True).stdout
    snapshot = tmp_path / "frozen.ext4"
    shutil.copyfile(guest.disk, snapshot)
    # The writer syncs every 50 ms, so an image that stays the same for a
    # second shows that nothing reaches the disk while it is frozen.
    time.sleep(1)
    assert file_digest(guest.disk) == file_digest(snapshot)
    fsck = subprocess.run(["e2fsck", "-fn", str(snapshot)], capture_output=True, text=True,
                          timeout=120)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    guest.ctl("thaw", check=True)
    size = writer_size(guest)
    time.sleep(1)
    assert writer_size(guest) > size


def test_auto_thaw_deadline(disk_guest):
    guest = disk_guest(freeze_config())
    guest.run("while [ ! -s /writer.log ]; do sleep 0.1; done")
    guest.ctl("freeze", "--timeout", str(AUTO_THAW_S), "/", check=True)
    frozen_at = time.monotonic()
    assert "frozen: yes" in guest.ctl("fsstatus", check=True).stdout
    # A deadline test: wait past it instead of polling a frozen filesystem.
    time.sleep(AUTO_THAW_S + 2)
    assert "frozen: no" in guest.ctl("fsstatus", check=True).stdout
    size = writer_size(guest)
    time.sleep(1)
    assert writer_size(guest) > size, f"still frozen {time.monotonic() - frozen_at:.1f}s later"


def test_resume_corrects_clock_and_reseeds(ember_guest):
    guest = ember_guest(base_config())
    guest.run(f"date -s @$(( $(date +%s) - {CLOCK_SET_BACK_S} ))")
    low, high = guest.clock_offset()
    assert high < -(CLOCK_SET_BACK_S - 10)

    resumed = guest.ctl("resume", check=True)
    report = resumed.stdout + resumed.stderr
    assert re.search(r"RNG reseeded", report), report
    skew = re.search(r"clock skew: ([-+][0-9.]+) s \(corrected\)", report)
    assert skew, report
    assert abs(abs(float(skew.group(1))) - CLOCK_SET_BACK_S) < 10, report
    low, high = guest.clock_offset()
    assert low > -CLOCK_TOLERANCE_S, f"guest behind by {-low:.2f}s or more"
    assert high < CLOCK_TOLERANCE_S, f"guest ahead by {high:.2f}s or more"


def test_shutdown_stop_signal_flushes(disk_guest):
    # The entrypoint writes its file only when it gets its stop signal.
    entrypoint = ("trap 'echo flushed > /flushed; sync; exit 0' USR1; "
                  "while true; do sleep 0.1; done")
    config = base_config(args=["/bin/sh", "-c", entrypoint])
    config["process"]["stop_signal"] = "SIGUSR1"
    guest = disk_guest(config)
    assert guest.run("test -e /flushed && echo yes || echo no").strip() == "no"

    guest.ctl("shutdown", check=True)
    assert guest.machine.exit_status(60) == 0
    contents = subprocess.run(["debugfs", "-R", "cat /flushed", guest.disk],
                              capture_output=True, text=True, timeout=60).stdout
    assert contents == "flushed\n"
