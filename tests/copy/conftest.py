"""Fixtures for the copy suite: ember-agent on a Unix socket, emberctl cp
against it, and directories that a named user can reach."""
import os
import shutil
import subprocess
import tempfile

import pytest

from agent_harness import Agent


@pytest.fixture
def work_dir():
    """A temporary directory under /var/tmp (a disk, not tmpfs), 0755 so a
    copy running as another user can reach it. Removed afterwards."""
    path = tempfile.mkdtemp(prefix="ember-copy-", dir="/var/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(ember_bin):
    """ember-agent listening on a Unix socket in a short temporary directory."""
    sock_dir = tempfile.mkdtemp(prefix="ember-cp-", dir="/tmp")
    handle = Agent(ember_bin("ember-agent"), sock_dir)
    handle.start()
    yield handle
    handle.stop()
    shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.fixture
def cp(ember_bin, agent):
    """Runs `emberctl cp ARGS...` against the agent; returns the CompletedProcess."""
    emberctl = ember_bin("emberctl")

    def run(*args, address=None, input=None, stdout=subprocess.PIPE, timeout=300):
        cmd = [emberctl, "-c", address or agent.addr, "cp", *args]
        return subprocess.run(cmd, input=input, stdout=stdout, stderr=subprocess.PIPE,
                              timeout=timeout)

    return run


@pytest.fixture
def small_tmpfs(work_dir):
    """A 16 MiB tmpfs that the test mounts itself, unmounted afterwards."""
    mountpoint = os.path.join(work_dir, "small")
    os.mkdir(mountpoint)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", mountpoint],
                   check=True)
    yield mountpoint
    subprocess.run(["umount", mountpoint], check=False)
