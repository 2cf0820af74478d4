"""Fixtures for the agent suite: ember-agent on a Unix socket or 127.0.0.1 in
a short temporary directory, and emberctl run against it."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import pyember
from agent_harness import Agent


def wait_accepting(address, timeout=5.0):
    """Waits until address accepts connections: the socket file exists as
    soon as the agent binds it, a moment before it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pyember.connect(address, timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.fixture
def short_dir():
    """A temporary directory with a short path: sun_path has room for 107 bytes."""
    path = tempfile.mkdtemp(prefix="ember-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def emberctl(ember_bin):
    return ember_bin("emberctl")


@pytest.fixture
def start_agent(ember_bin, short_dir):
    """Starts ember-agent; returns the harness object. Stopped at teardown."""
    started = []

    def start(args=(), tcp=False, token=None, name="a", env=None):
        workdir = os.path.join(short_dir, name)
        os.makedirs(workdir, exist_ok=True)
        agent = Agent(ember_bin("ember-agent"), workdir, args=args, tcp=tcp, token=token,
                      env=env)
        started.append(agent)
        agent.start()
        wait_accepting(agent.addr)
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def agent(start_agent):
    return start_agent()


@pytest.fixture
def ctl(emberctl):
    """Runs emberctl; returns the CompletedProcess (bytes output)."""

    def run(address, *args, input=None, timeout=60, global_args=(), env=None):
        cmd = [emberctl, "-c", address, *global_args, *args]
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=env)

    return run
