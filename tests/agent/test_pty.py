"""PTY sessions: window size and resize, ^D, and an interactive shell driven
through tmux (keys in, screen contents out)."""
import os
import shlex
import subprocess
import time

import pytest

import pyember


def read_until(client, needle, timeout=10):
    deadline = time.monotonic() + timeout
    while needle not in client.result.stdout:
        assert time.monotonic() < deadline, f"{needle!r} not in {bytes(client.result.stdout)!r}"
        kind = client.next_event()
        assert kind in ("output", "output_lost"), kind


def test_stty_size_initial_then_resized(agent):
    with pyember.Client(agent.addr) as client:
        client.start_exec([b"sh", b"-c", b"stty size; read line; stty size"], tty=True,
                          stdin=True, rows=33, cols=101)
        read_until(client, b"33 101")
        client.send_resize(40, 120)
        client.send_stdin(b"\n")
        result = client.wait_exit()
    assert result.exit["status"] == 0
    assert b"40 120" in result.stdout.split(b"33 101", 1)[1]


def test_ctrl_d_ends_cat_on_pty(agent):
    with pyember.Client(agent.addr) as client:
        client.start_exec([b"cat"], tty=True, stdin=True, rows=24, cols=80)
        client.send_stdin(b"typed\n")
        read_until(client, b"typed\r\ntyped\r\n")
        client.send_eof()
        result = client.wait_exit()
    assert result.exit["status"] == 0


def test_exec_t_term_and_merged_output(agent, ctl):
    r = ctl(agent.addr, "exec", "-t", "--", "sh", "-c", 'echo "$TERM"; echo err >&2; test -t 1')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == b"err"
    assert r.stderr == b""


class Tmux:
    """A private tmux server (its own socket) running one window."""

    def __init__(self, socket_path, command, cols=100, rows=30):
        self.base = ["tmux", "-S", socket_path]
        subprocess.run(self.base + ["-f", "/dev/null", "new-session", "-d", "-x", str(cols),
                                    "-y", str(rows), command], check=True)
        subprocess.run(self.base + ["set-option", "-g", "status", "off"], check=True)

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", *keys], check=True)

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-p", "-S", "-200"],
                              capture_output=True, text=True, check=True).stdout

    def wait_for(self, text, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear on the screen:\n{self.screen()}")

    def pane_size(self):
        out = subprocess.run(self.base + ["display-message", "-p",
                                          "#{pane_height} #{pane_width}"],
                             capture_output=True, text=True, check=True).stdout
        return out.strip()

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


@pytest.fixture
def tmux_session(short_dir):
    sessions = []

    def start(command):
        session = Tmux(os.path.join(short_dir, "tmux.sock"), command)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.kill()


def test_shell_through_tmux(agent, emberctl, tmux_session):
    # The outer shell reports emberctl's exit status and whether it put the
    # terminal settings back as they were.
    outer = (f"before=$(stty -g); {shlex.quote(emberctl)} -c {shlex.quote(agent.addr)} shell; "
             f"rc=$?; [ \"$(stty -g)\" = \"$before\" ] && r=restored || r=changed; "
             f"echo EMBERCTL-EXIT-$rc-$r; sleep 60")
    tmux = tmux_session(f"sh -c {shlex.quote(outer)}")

    tmux.keys("echo READY-$((40+2))", "Enter")
    tmux.wait_for("READY-42")

    tmux.keys("stty size", "Enter")
    tmux.wait_for(tmux.pane_size())

    tmux.keys("sleep 100; echo SLEEP-$((0+0))-ENDED", "Enter")
    time.sleep(0.5)
    tmux.keys("C-c")
    tmux.keys("echo AFTER-$((1+1))", "Enter")
    screen = tmux.wait_for("AFTER-2", timeout=10)
    assert "SLEEP-0-ENDED" not in screen, "Ctrl-C did not interrupt the remote sleep"

    subprocess.run(tmux.base + ["resize-window", "-x", "120", "-y", "40"], check=True)
    time.sleep(0.3)
    size = tmux.pane_size()
    assert size != "30 100"
    tmux.keys("clear; stty size", "Enter")
    tmux.wait_for(size)

    tmux.keys("exit 7", "Enter")
    tmux.wait_for("EMBERCTL-EXIT-7-restored")
