"""The real ember-agent under ember-init, driven by emberctl from the host
over a Unix socket inside the test root: start in mode "host", logs, wait."""
import os
import subprocess
import time

import pytest

from testroot import TestRoot


@pytest.fixture
def agent_root(tmp_path, ember_bin):
    with TestRoot(tmp_path, ember_bin("ember-init"),
                  agent_binary=ember_bin("ember-agent")) as r:
        yield r


def emberctl(ember_bin, root, *args, timeout=20):
    address = "unix:" + root.in_root("/run/ember/agent.sock")
    return subprocess.run([ember_bin("emberctl"), "-c", address, "--connect-timeout", "10"] +
                          list(args), capture_output=True, text=True, timeout=timeout)


def test_host_start_wait_and_logs(agent_root, ember_bin, tmp_path):
    root = agent_root
    root.write_config({
        "process": {"args": ["/bin/sh", "-c", "echo default"]},
        "start_mode": "host", "start_timeout": 30,
        "agent": {"listen": ["unix:/run/ember/agent.sock"]},
    })
    root.start()
    root.wait_for_path("/run/ember/agent.sock", timeout=15)
    secret = tmp_path / "secret"
    secret.write_text("TOKEN=never-logged\n")
    address = "unix:" + root.in_root("/run/ember/agent.sock")
    # The waiter connects first: init delays its power-off until the agent has
    # handed the status to it.
    waiter = subprocess.Popen([ember_bin("emberctl"), "-c", address, "wait"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    started = emberctl(ember_bin, root, "start", "-e", "GREETING=hi", "--secret-file",
                       str(secret), "--", "/bin/sh", "-c",
                       'echo "$GREETING token=$TOKEN"; sleep 0.5; exit 4')
    assert started.returncode == 0, started.stderr + root.output
    logs = emberctl(ember_bin, root, "logs", "-f")
    assert "hi token=never-logged" in logs.stdout, logs.stderr
    waiter.wait(timeout=20)
    assert waiter.returncode == 4, waiter.stderr.read()
    result = root.wait()
    assert result.exit_line == "ember: exit status 4", result.output
    init_lines = [line for line in result.lines if line.startswith("ember-init:")]
    assert not [line for line in init_lines if "never-logged" in line]
