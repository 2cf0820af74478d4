"""Driving a booted guest through emberctl: exec with exit codes and
streaming output, a PTY exec, an interactive shell driven through tmux, copy
in and out with a checksum, and a workload over its pids.max."""
import hashlib
import os
import shutil
import subprocess
import time

import pytest

from guest_image import base_config

TMUX_TIMEOUT_S = 30
COPY_SIZE = 4 * 1024 * 1024


def test_exec_output_and_exit_code(ember_guest):
    guest = ember_guest(base_config())
    proc = guest.ctl("exec", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 5")
    assert proc.returncode == 5
    assert proc.stdout == "out\n"
    assert proc.stderr.endswith("err\n")

    killed = guest.ctl("exec", "--", "/bin/sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + 15

    missing = guest.ctl("exec", "--", "/no/such/program")
    assert missing.returncode == 127

    streamed = guest.popen("exec", "--", "/bin/sh", "-c",
                           "echo first; sleep 3; echo second", stdout=subprocess.PIPE)
    started = time.monotonic()
    assert streamed.stdout.readline() == "first\n"
    first_after = time.monotonic() - started
    assert streamed.stdout.readline() == "second\n"
    assert streamed.wait(timeout=30) == 0
    # The first line arrives while the command is still sleeping.
    assert first_after < 2.5


def test_exec_pty_and_user(ember_guest):
    guest = ember_guest(base_config())
    # `script` gives emberctl a terminal of its own, so `-t` has one to forward.
    proc = subprocess.run(["script", "-qec", " ".join(guest.command(
        "exec", "-t", "--", "/bin/sh", "-c", "tty; stty size")), "/dev/null"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert "/dev/pts/" in proc.stdout

    nobody = guest.ctl("exec", "-u", "nobody", "--", "id", "-u", check=True)
    assert nobody.stdout.strip() == "65534"


def test_shell_through_tmux(tmp_path, ember_guest):
    if not shutil.which("tmux"):
        pytest.fail("tmux is missing: run scripts/install-packages.sh")
    guest = ember_guest(base_config())
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    command = " ".join(guest.command("shell"))
    subprocess.run(tmux + ["new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30",
                           command + "; echo shell-exited=$?; sleep 30"], check=True)
    try:
        wait_pane(tmux, "#", TMUX_TIMEOUT_S)
        subprocess.run(tmux + ["send-keys", "-t", "e2e", "echo $((6 * 7))", "Enter"],
                       check=True)
        wait_pane(tmux, "\n42", TMUX_TIMEOUT_S)
        subprocess.run(tmux + ["send-keys", "-t", "e2e", "C-d"], check=True)
        wait_pane(tmux, "shell-exited=0", TMUX_TIMEOUT_S)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def wait_pane(tmux, text, timeout):
    deadline = time.monotonic() + timeout
    while True:
        pane = subprocess.run(tmux + ["capture-pane", "-p", "-t", "e2e"], capture_output=True,
                              text=True).stdout
        if text in pane:
            return pane
        if time.monotonic() > deadline:
            raise AssertionError(f"tmux pane did not show {text!r} within {timeout}s:\n{pane}")
        time.sleep(0.1)


def test_copy_in_and_out_checksum(tmp_path, ember_guest):
    guest = ember_guest(base_config())
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(COPY_SIZE))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()

    guest.ctl("cp", str(source), ":/tmp/payload.bin", check=True, timeout=120)
    inside = guest.run("sha256sum /tmp/payload.bin").split()[0]
    assert inside == expected

    guest.run("mkdir -p /tmp/result && cp /tmp/payload.bin /tmp/result/copy.bin")
    guest.ctl("cp", ":/tmp/result", str(tmp_path / "out"), check=True, timeout=120)
    copied = (tmp_path / "out" / "copy.bin").read_bytes()
    assert hashlib.sha256(copied).hexdigest() == expected


def test_failed_copy_reports_clean_error(tmp_path, ember_guest):
    """The copy worker logs a failure to /dev/kmsg as well: the log line must
    not reach the connection it took over, which here runs over vsock under
    ember-init."""
    guest = ember_guest(base_config())
    failed = guest.ctl("cp", ":/tmp/missing-file", str(tmp_path / "out"), timeout=120)
    assert failed.returncode == 125, failed.stderr
    assert "/tmp/missing-file" in failed.stderr
    assert "ember-agent" not in failed.stderr
    assert "frame" not in failed.stderr
    assert "copy failed on '/tmp/missing-file'" in guest.run("dmesg")


def test_pids_max_contains_workload(ember_guest):
    config = base_config()
    config["cgroup"] = {"pids_max": 64}
    guest = ember_guest(config)
    assert guest.run("cat /sys/fs/cgroup/workload/pids.max").strip() == "64"

    bomb = guest.ctl("exec", "--", "/bin/sh", "-c",
                     "i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i + 1)); done; wait",
                     timeout=120)
    assert "fork" in bomb.stderr.lower() or "resource" in bomb.stderr.lower(), bomb.stderr
    # The agent, outside workload/, still replies to a ping while the workload is at its limit.
    assert guest.ctl("ping").returncode == 0
    events = guest.run("cat /sys/fs/cgroup/workload/pids.events")
    assert int(events.split()[-1]) > 0
