"""Where the guest binaries (ember-init, ember-agent) come from.

By default they are in the same build as the host tools (EMBER_BUILD, default
build/). EMBER_GUEST_BUILD names another build, for example build/arm64, and
EMBER_GUEST_RUNNER a program that runs its binaries here, for example
qemu-aarch64-static. emberctl and ember-rootfs stay native either way.
"""
import os
import shlex

GUEST_BINARIES = ("ember-init", "ember-agent")


def guest_build(root):
    """Returns the guest build directory, or None when it is the main build."""
    path = os.environ.get("EMBER_GUEST_BUILD")
    return os.path.join(root, path) if path else None


def guest_runner():
    """Returns the runner command as a list (empty when binaries run natively)."""
    return shlex.split(os.environ.get("EMBER_GUEST_RUNNER", ""))


def write_wrapper(binary, directory):
    """Writes a shell script in directory that runs binary under the guest
    runner with the script's arguments, and returns the script's path. The
    script execs, so its PID is the runner's and tests can signal it. The
    directory should be as readable as the binary's own, because some tests
    run the agent as user nobody (65534)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, os.path.basename(binary))
    command = " ".join(shlex.quote(word) for word in guest_runner() + [binary])
    # Concurrent test runs share the directory: rename the finished file
    # into place so that no test runs a half-written script.
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w") as f:
        f.write(f'#!/bin/sh\nexec {command} "$@"\n')
    os.chmod(partial, 0o755)
    os.rename(partial, path)
    return path


# ELF e_machine values of the architectures ember builds for.
ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def runner_prefix(binary):
    """Returns the guest runner as a command prefix when binary is an ELF
    file for another machine than this one, else an empty list. Harnesses
    that receive a raw guest binary, not ember_bin's script, call this."""
    try:
        with open(binary, "rb") as f:
            header = f.read(20)
    except OSError:
        return []
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return []
    machine = int.from_bytes(header[18:20], "little")
    if machine == ELF_MACHINES.get(os.uname().machine):
        return []
    return guest_runner()


def guest_machine(root):
    """Returns the `uname -m` the guest agent reports: this machine's, or the
    guest build's architecture when EMBER_GUEST_BUILD names another one."""
    build = guest_build(root)
    if build and os.path.basename(os.path.normpath(build)) == "arm64":
        return "aarch64"
    return os.uname().machine
