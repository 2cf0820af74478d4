"""logs -f, wait, shutdown, start and info with the agent started by
ember-init as PID 1 of fresh namespaces (tests/lib/testroot.py), driven by
emberctl over a Unix socket inside the test root."""
import json
import os
import subprocess
import time

import pytest

import testroot

AGENT_SOCKET = "/run/agent.sock"


@pytest.fixture
def booted(ember_bin, short_dir):
    """Returns start(config) -> (root, address); init runs until the test ends."""
    roots = []

    def start(process, **config):
        root = testroot.TestRoot(short_dir, ember_bin("ember-init"),
                        agent_binary=ember_bin("ember-agent")).__enter__()
        roots.append(root)
        config = dict(config, process=process,
                      agent={"listen": [f"unix:{AGENT_SOCKET}"]})
        root.write_config(config)
        root.start()
        root.wait_for_path(AGENT_SOCKET)
        return root, f"unix:{root.in_root(AGENT_SOCKET)}"

    yield start
    for root in roots:
        root.cleanup()


def test_logs_follow_and_wait(booted, emberctl, ctl):
    root, addr = booted({"args": ["/bin/sh", "-c",
                                  "echo first; sleep 2; echo second >&2; exit 3"]})
    waiter = subprocess.Popen([emberctl, "-c", addr, "wait"], stderr=subprocess.PIPE)
    follower = subprocess.Popen([emberctl, "-c", addr, "logs", "-f"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert out == b"first\nsecond\n"
    assert waiter.wait(timeout=30) == 3, waiter.stderr.read()
    result = root.wait()
    assert result.powered_off
    assert result.exit_line == "ember: exit status 3"


def test_logs_without_follow_returns(booted, ctl):
    root, addr = booted({"args": ["/bin/sh", "-c", "echo one; echo two; sleep 30"]})
    deadline = time.monotonic() + 10
    r = ctl(addr, "logs")
    while r.stdout != b"one\ntwo\n" and time.monotonic() < deadline:
        time.sleep(0.1)
        r = ctl(addr, "logs")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"one\ntwo\n"
    r = ctl(addr, "logs", "--tail", "4")
    assert r.stdout == b"two\n"


def test_info_under_init(booted, ctl):
    root, addr = booted({"args": ["/bin/sleep", "30"]})
    r = ctl(addr, "info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["under_init"] is True
    assert "logs" in info["operations"]
    assert "shutdown" in info["operations"]


def test_shutdown_powers_off(booted, ctl):
    root, addr = booted({"args": ["/bin/sleep", "1000"]})
    r = ctl(addr, "shutdown", "--timeout", "2")
    assert r.returncode == 0, r.stderr
    result = root.wait(timeout=30)
    assert result.powered_off
    assert result.exit_line.startswith("ember: exit status")


def test_shutdown_reboot(booted, ctl):
    root, addr = booted({"args": ["/bin/sleep", "1000"]})
    assert ctl(addr, "shutdown", "--reboot").returncode == 0
    result = root.wait(timeout=30)
    assert result.rebooted


def test_start_mode_host_with_secret(booted, ctl, short_dir):
    root, addr = booted({"args": ["/bin/sh", "-c", 'echo "$GREETING $SECRET $1"', "sh"]},
                        start_mode="host")
    secret = os.path.join(short_dir, "secret")
    with open(secret, "w") as f:
        f.write("SECRET=s3cr3t-value\n")
    r = ctl(addr, "start", "-e", "GREETING=hello", "--secret-file", secret, "--",
            "/bin/sh", "-c", 'echo "$GREETING $SECRET $0"; sleep 1; exit 6', "arg0")
    assert r.returncode == 0, r.stderr
    r = ctl(addr, "start")
    assert r.returncode == 125
    assert b"already" in r.stderr, r.stderr
    r = ctl(addr, "wait", timeout=30)
    assert r.returncode == 6
    result = root.wait(timeout=30)
    assert "hello s3cr3t-value arg0" in result.output
    leaks = [line for line in result.lines
             if "s3cr3t-value" in line and line.strip() != "hello s3cr3t-value arg0"]
    assert leaks == [], leaks
