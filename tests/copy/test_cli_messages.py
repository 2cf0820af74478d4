"""What `emberctl cp` reports when a copy cannot be done.

Both sides use the same wording for a destination that is not a directory.
Exit codes tell a local failure (1) from the agent's (125) and from a usage
error (122), and only errors that involve the agent name its address. A size
rejection names --max-file-size, --help needs no agent, and a copy from an
idle stdin ends as soon as the agent fails or goes away."""
import io
import os
import signal
import subprocess
import tarfile
import time

from agent_harness import child_pids

# emberctl's exit codes (host/emberctl/cli.h).
EXIT_LOCAL = 1
EXIT_USAGE = 122
EXIT_CONNECT = 123
EXIT_REMOTE = 125
# How long emberctl may take to notice a failed or vanished agent while its
# stdin stays idle, in seconds. It polls stdin and the connection together, so
# it notices at once in practice.
NOTICE_S = 5


def write_file(path, content=b"content\n"):
    with open(path, "wb") as f:
        f.write(content)


def tar_of(name, content):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo(name)
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def not_a_directory(path):
    return f"destination directory '{path}' is not a directory: name an existing directory"


def does_not_exist(path):
    return f"destination directory '{path}' does not exist: name an existing directory"


def test_copy_in_slash_onto_file(cp, agent, work_dir):
    src = os.path.join(work_dir, "src.txt")
    write_file(src)
    guest_file = os.path.join(work_dir, "a.txt")
    write_file(guest_file, b"guest\n")

    result = cp(src, ":" + guest_file + "/")
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert result.stderr.decode() == (f"emberctl: {agent.addr}: cp: "
                                      f"{not_a_directory(guest_file + '/')}\n")
    # The tar stream reports the same for the same destination.
    result = cp("-", ":" + guest_file, input=tar_of("x.txt", b"x\n"))
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert not_a_directory(guest_file).encode() in result.stderr
    with open(guest_file, "rb") as f:
        assert f.read() == b"guest\n"


def test_copy_in_slash_missing_directory(cp, work_dir):
    src = os.path.join(work_dir, "src.txt")
    write_file(src)
    missing = os.path.join(work_dir, "missing") + "/"

    result = cp(src, ":" + missing)
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert does_not_exist(missing).encode() in result.stderr


def test_copy_out_slash_onto_file(cp, work_dir):
    guest_file = os.path.join(work_dir, "guest.txt")
    write_file(guest_file)
    host_file = os.path.join(work_dir, "a.txt")
    write_file(host_file, b"host\n")

    result = cp(":" + guest_file, host_file + "/")
    assert result.returncode == EXIT_LOCAL, result.stderr
    assert result.stderr.decode() == f"emberctl: cp: {not_a_directory(host_file + '/')}\n"
    with open(host_file, "rb") as f:
        assert f.read() == b"host\n"


def test_copy_out_slash_missing_directory(cp, work_dir):
    guest_file = os.path.join(work_dir, "guest.txt")
    write_file(guest_file)
    missing = os.path.join(work_dir, "nodir") + "/"

    result = cp(":" + guest_file, missing)
    assert result.returncode == EXIT_LOCAL, result.stderr
    assert result.stderr.decode() == f"emberctl: cp: {does_not_exist(missing)}\n"
    assert not os.path.exists(missing)


def test_contents_of_a_file_is_a_local_failure(cp, work_dir):
    src = os.path.join(work_dir, "file.txt")
    write_file(src)

    result = cp(src + "/.", ":" + work_dir)
    assert result.returncode == EXIT_LOCAL, result.stderr
    assert result.stderr == (f"emberctl: cp: source '{src}/.' is not a directory: SRC/. copies "
                             "a directory's contents\n").encode()


def test_usage_error_has_no_address(cp):
    result = cp(":relative", "out")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr == b"emberctl: cp: invalid guest path 'relative': it must be absolute\n"


def test_local_write_failure_has_no_address(cp, work_dir, small_tmpfs):
    guest_file = os.path.join(work_dir, "big")
    write_file(guest_file, os.urandom(20 << 20))  # larger than the 16 MiB tmpfs

    result = cp(":" + guest_file, small_tmpfs)
    assert result.returncode == EXIT_LOCAL, result.stderr
    assert result.stderr.startswith(b"emberctl: cp: failed to write "), result.stderr
    assert b"No space left on device" in result.stderr
    assert os.listdir(small_tmpfs) == []


def test_damaged_archive_is_a_local_failure(cp, work_dir):
    result = cp("-", ":" + work_dir, input=b"not a tar archive\n" * 64)
    assert result.returncode == EXIT_LOCAL, result.stderr
    assert result.stderr == b"emberctl: cp: failed to read the tar archive: the archive is damaged\n"


def test_agent_error_keeps_the_address(cp, agent, work_dir):
    missing = os.path.join(work_dir, "missing.txt")
    result = cp(":" + missing, os.path.join(work_dir, "out.txt"))
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert result.stderr.startswith(f"emberctl: {agent.addr}: cp: ".encode()), result.stderr
    assert missing.encode() in result.stderr


def test_max_file_size_names_option(cp, work_dir):
    guest_file = os.path.join(work_dir, "limited.txt")
    write_file(guest_file, b"four")
    dest = os.path.join(work_dir, "out.txt")

    result = cp("--max-file-size", "3", ":" + guest_file, dest)
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert (b"is larger than the limit of 3 bytes: raise --max-file-size to copy it\n"
            in result.stderr), result.stderr
    assert not os.path.exists(dest)
    # The tar stream out has the same limit and the same hint.
    result = cp("--max-file-size", "3", ":" + guest_file, "-")
    assert result.returncode == EXIT_REMOTE, result.stderr
    assert b"raise --max-file-size to copy it\n" in result.stderr, result.stderr


def test_subcommand_help_needs_no_agent(ember_bin):
    env = {k: v for k, v in os.environ.items() if k != "EMBER_ADDR"}
    for args, expected in ((["cp", "--help"], "cp [-a]"),
                           (["cp", "-a", "-h"], "cp [-a]"),
                           (["exec", "-i", "--help"], "exec [-i]"),
                           (["ping", "--help"], "ping ")):
        result = subprocess.run([ember_bin("emberctl"), *args], env=env, capture_output=True,
                                timeout=10)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith(f"usage: emberctl [-c ADDRESS] {expected}".encode()), \
            result.stdout
        assert result.stderr == b""
    # After "--", --help belongs to the remote command.
    result = subprocess.run([ember_bin("emberctl"), "exec", "--", "ls", "--help"], env=env,
                            capture_output=True, timeout=10)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert b"no agent address" in result.stderr


def start_idle_copy_in(ember_bin, agent, dest):
    """Starts `emberctl cp - :DEST` with a stdin pipe that stays open and idle."""
    return subprocess.Popen([ember_bin("emberctl"), "-c", agent.addr, "cp", "-", ":" + dest],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_exit(client):
    """Waits for client while its stdin stays open. Returns (code, stderr)."""
    try:
        code = client.wait(timeout=NOTICE_S)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()
        raise AssertionError(f"emberctl still waits on its idle stdin after {NOTICE_S} s")
    finally:
        client.stdin.close()
    stderr = client.stderr.read()
    client.stderr.close()
    return code, stderr


def test_idle_stdin_notices_killed_worker(ember_bin, agent, work_dir):
    client = start_idle_copy_in(ember_bin, agent, work_dir)
    deadline = time.monotonic() + 5
    while not child_pids(agent.proc.pid):
        assert time.monotonic() < deadline, "no copy worker started"
        time.sleep(0.02)
    time.sleep(0.3)
    assert client.poll() is None, "emberctl ended before its stdin did"
    for pid in child_pids(agent.proc.pid):
        os.kill(pid, signal.SIGKILL)

    code, stderr = wait_exit(client)
    assert code == EXIT_CONNECT, stderr
    assert stderr == (f"emberctl: {agent.addr}: cp: the agent closed the connection during "
                      "the copy\n").encode()
    assert os.listdir(work_dir) == []


def test_idle_stdin_notices_agent_error(ember_bin, agent, work_dir):
    missing = os.path.join(work_dir, "missing")
    client = start_idle_copy_in(ember_bin, agent, missing)

    code, stderr = wait_exit(client)
    assert code == EXIT_REMOTE, stderr
    assert does_not_exist(missing).encode() in stderr, stderr


def test_idle_stdin_between_members_killed_worker(ember_bin, agent, work_dir):
    """The producer sends one whole member, then pauses before the next."""
    client = start_idle_copy_in(ember_bin, agent, work_dir)
    content = b"first\n"
    member = tarfile.TarInfo("first.txt")
    member.size = len(content)
    # One member, without the zero blocks that would end the archive.
    client.stdin.write(member.tobuf() + content + bytes(512 - len(content)))
    client.stdin.flush()
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(work_dir, "first.txt")):
        assert time.monotonic() < deadline, "the first member was not copied"
        time.sleep(0.02)
    for pid in child_pids(agent.proc.pid):
        os.kill(pid, signal.SIGKILL)

    code, stderr = wait_exit(client)
    assert code == EXIT_CONNECT, stderr
    assert stderr == (f"emberctl: {agent.addr}: cp: the agent closed the connection during "
                      "the copy\n").encode()
