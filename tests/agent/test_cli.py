"""emberctl against a standalone ember-agent: commands, exit codes, errors,
security checks and session management."""
import json
import os
import re
import subprocess
import time

EXIT_USAGE, EXIT_CONNECT, EXIT_TIMED_OUT, EXIT_REMOTE = 122, 123, 124, 125


def test_ping_prints_protocol(agent, ctl):
    r = ctl(agent.addr, "ping")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"ok: protocol version 1"), r.stdout


def test_info_json_fields(agent, ctl):
    r = ctl(agent.addr, "info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["protocol_version"] == 1
    assert info["under_init"] is False
    assert "exec" in info["operations"]
    assert info["kernel"] == os.uname().release


def test_exec_streams_and_exit_code(agent, ctl):
    r = ctl(agent.addr, "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_exec_killed_by_signal_is_128_plus(agent, ctl):
    r = ctl(agent.addr, "exec", "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + 15


def test_exec_stdin_pipe_ends(agent, ctl):
    r = ctl(agent.addr, "exec", "-i", "--", "cat", input=b"hi", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi"


def test_exec_without_stdin_reads_eof(agent, ctl):
    r = ctl(agent.addr, "exec", "--", "cat", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""


def test_exec_env_exact_bytes(agent, ctl):
    entries = [b"EQ=a=b==c", b"NL=line1\nline2\n", b"EMPTY=", b"BIN=\xff\xfe\x80 x",
               b"SPACE= lead and trail "]
    args = []
    for entry in entries:
        args += [b"-e", entry]
    r = ctl(agent.addr, "exec", *args, "--", "/usr/bin/env", "-0")
    assert r.returncode == 0, r.stderr
    got = r.stdout.split(b"\0")
    for entry in entries:
        assert entry in got


def test_exec_clear_env(start_agent, ctl):
    agent = start_agent(env=dict(os.environ, EMBER_IMAGE_MARK="inherited"))
    r = ctl(agent.addr, "exec", "-e", "ONLY=1", "--", "/usr/bin/env")
    assert b"EMBER_IMAGE_MARK=inherited\n" in r.stdout
    r = ctl(agent.addr, "exec", "--clear-env", "-e", "ONLY=1", "--", "/usr/bin/env")
    assert r.returncode == 0, r.stderr
    assert b"ONLY=1\n" in r.stdout
    assert b"EMBER_IMAGE_MARK" not in r.stdout


def test_exec_env_from_local_environment(agent, ctl):
    env = dict(os.environ, EMBER_TEST_PASS="from host")
    r = ctl(agent.addr, "exec", "-e", "EMBER_TEST_PASS", "--", "sh", "-c",
            'printf %s "$EMBER_TEST_PASS"', env=env)
    assert r.stdout == b"from host"


def test_exec_workdir(agent, ctl, short_dir):
    r = ctl(agent.addr, "exec", "-w", short_dir, "--", "pwd")
    assert r.stdout.decode().strip() == short_dir
    r = ctl(agent.addr, "exec", "-w", f"{short_dir}/missing", "--", "pwd")
    assert r.returncode == 127
    assert b"missing" in r.stderr


def test_exec_timeout_kills_group(agent, ctl, short_dir):
    marker = os.path.join(short_dir, "survived")
    start = time.monotonic()
    r = ctl(agent.addr, "exec", "--timeout", "0.5", "--", "sh", "-c",
            f"(sleep 2; touch {marker}) & sleep 30", timeout=20)
    assert r.returncode == EXIT_TIMED_OUT
    assert b"timed out" in r.stderr
    assert time.monotonic() - start < 5
    time.sleep(2.5)
    assert not os.path.exists(marker), "a background child outlived the timeout"


def test_background_child_holding_pipes(agent, ctl):
    start = time.monotonic()
    r = ctl(agent.addr, "exec", "--", "sh", "-c", "sleep 30 & echo started", timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"started\n"
    assert time.monotonic() - start < 5


def test_background_child_holding_pty(agent, ctl):
    start = time.monotonic()
    r = ctl(agent.addr, "exec", "-t", "--", "sh", "-c", "sleep 30 & echo started; exit 4",
            timeout=20)
    assert r.returncode == 4, r.stderr
    assert b"started" in r.stdout
    assert time.monotonic() - start < 5


def test_missing_command_exits_127(agent, ctl):
    r = ctl(agent.addr, "exec", "--", "/nonexistent/cmd")
    assert r.returncode == 127
    assert b"/nonexistent/cmd" in r.stderr
    assert r.stderr.startswith(f"emberctl: {agent.addr}: exec: ".encode()), r.stderr


def test_not_executable_exits_126(agent, ctl, short_dir):
    script = os.path.join(short_dir, "not-executable")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho never\n")
    os.chmod(script, 0o644)
    r = ctl(agent.addr, "exec", "--", script)
    assert r.returncode == 126, r.stderr
    assert script.encode() in r.stderr


def test_unknown_user_is_remote_error(agent, ctl):
    r = ctl(agent.addr, "exec", "-u", "no-such-user-x", "--", "true")
    assert r.returncode == EXIT_REMOTE
    assert b"no-such-user-x" in r.stderr


def test_detach_ps_kill_attach(agent, ctl):
    # The marker file appears after "early" was written, so the kill below
    # cannot overtake the output.
    marker = os.path.join(agent.workdir, "early-written")
    r = ctl(agent.addr, "exec", "--detach", "--", "sh", "-c",
            f"echo early; touch {marker}; sleep 60")
    assert r.returncode == 0, r.stderr
    session = r.stdout.decode().strip()
    assert re.fullmatch(r"[!-~]+", session), session
    deadline = time.monotonic() + 10
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)

    listing = ctl(agent.addr, "ps")
    line = next(l for l in listing.stdout.decode().splitlines() if l.startswith(session))
    assert "running" in line
    assert "detached" in line
    assert "sleep 60" in line

    assert ctl(agent.addr, "kill", "-s", "KILL", session).returncode == 0
    r = ctl(agent.addr, "attach", session, timeout=20)
    assert r.returncode == 128 + 9
    assert r.stdout == b"early\n"


def test_kill_unknown_session(agent, ctl):
    r = ctl(agent.addr, "kill", "no-such-session")
    assert r.returncode == EXIT_REMOTE
    assert b"no-such-session" in r.stderr


def test_session_limit_enforced(start_agent, ctl):
    agent = start_agent(args=["--max-sessions", "2"])
    for _ in range(2):
        assert ctl(agent.addr, "exec", "--detach", "--", "sleep", "60").returncode == 0
    r = ctl(agent.addr, "exec", "--", "true")
    assert r.returncode == EXIT_REMOTE
    assert b"2" in r.stderr, r.stderr
    assert b"session" in r.stderr, r.stderr
    assert ctl(agent.addr, "ping").returncode == 0


def test_unix_peer_wrong_uid_rejected(start_agent, ctl):
    agent = start_agent(args=["--allow-uid", "4242"])
    r = ctl(agent.addr, "ping")
    assert r.returncode != 0
    assert r.returncode in (EXIT_REMOTE, EXIT_CONNECT)
    assert b"ping: " in r.stderr
    assert "uid 0" in agent.log() or "uid=0" in agent.log(), agent.log()


def test_tcp_without_token_rejected(start_agent, ctl, short_dir):
    agent = start_agent(tcp=True, token="s3cret-token")
    r = ctl(agent.addr, "ping")
    assert r.returncode == EXIT_REMOTE, r.stderr
    assert b"token" in r.stderr.lower()

    wrong = os.path.join(short_dir, "wrong")
    with open(wrong, "w") as f:
        f.write("s3cret-tokeX\n")
    r = ctl(agent.addr, "ping", global_args=["--token-file", wrong])
    assert r.returncode == EXIT_REMOTE

    r = ctl(agent.addr, "exec", "--", "echo", "ok", global_args=["--token-file", agent.token_path])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ok\n"


def test_usage_errors(agent, ctl, emberctl):
    assert ctl(agent.addr, "frobnicate").returncode == EXIT_USAGE
    assert ctl(agent.addr, "exec").returncode == EXIT_USAGE
    assert ctl(agent.addr, "exec", "--timeout", "soon", "--", "true").returncode == EXIT_USAGE
    assert ctl(agent.addr, "kill", "-s", "NOPE", "x").returncode == EXIT_USAGE
    r = ctl("tcp:127.0.0.1:99999", "ping")
    assert r.returncode == EXIT_USAGE
    assert b"65535" in r.stderr
    r = subprocess.run([emberctl, "ping"], capture_output=True,
                       env={k: v for k, v in os.environ.items() if k != "EMBER_ADDR"})
    assert r.returncode == EXIT_USAGE
    assert b"EMBER_ADDR" in r.stderr


def test_help_documents_exit_codes(emberctl):
    r = subprocess.run([emberctl, "--help"], capture_output=True)
    assert r.returncode == 0
    for code in (EXIT_USAGE, EXIT_CONNECT, EXIT_TIMED_OUT, EXIT_REMOTE):
        assert str(code).encode() in r.stdout


def test_address_from_environment(agent, emberctl):
    r = subprocess.run([emberctl, "ping"], capture_output=True,
                       env=dict(os.environ, EMBER_ADDR=agent.addr))
    assert r.returncode == 0, r.stderr


def test_connection_failure_exit_code(ctl, short_dir):
    start = time.monotonic()
    addr = f"unix:{short_dir}/absent.sock"
    r = ctl(addr, "ping", global_args=["--connect-timeout", "0.3"])
    assert r.returncode == EXIT_CONNECT
    assert r.stderr.startswith(f"emberctl: {addr}: ping: failed to connect".encode()), r.stderr
    assert 0.25 < time.monotonic() - start < 3


def test_wait_ready_until_agent_starts(start_agent, emberctl, short_dir):
    addr = f"unix:{short_dir}/late/agent.sock"
    waiter = subprocess.Popen([emberctl, "-c", addr, "wait-ready", "--timeout", "20"],
                              stderr=subprocess.PIPE)
    time.sleep(0.5)
    assert waiter.poll() is None
    start_agent(name="late")
    assert waiter.wait(timeout=20) == 0, waiter.stderr.read()


def test_wait_ready_times_out(ctl, short_dir):
    r = ctl(f"unix:{short_dir}/never.sock", "wait-ready", "--timeout", "0.5")
    assert r.returncode == EXIT_CONNECT


def test_shutdown_unsupported_standalone(agent, ctl):
    r = ctl(agent.addr, "shutdown")
    assert r.returncode == EXIT_REMOTE
    assert b"not supported" in r.stderr or b"unsupported" in r.stderr, r.stderr
    assert ctl(agent.addr, "ping").returncode == 0


def test_user_groups_and_home(ember_bin, ctl, short_dir):
    """The agent runs in a mount namespace of this test, where /etc/passwd and
    /etc/group are files the test wrote."""
    passwd = os.path.join(short_dir, "passwd")
    group = os.path.join(short_dir, "group")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "alice:x:1234:1234:Alice:/home/alice:/bin/sh\n")
    with open(group, "w") as f:
        f.write("root:x:0:\nalice:x:1234:\ndevs:x:2000:bob,alice\nops:x:2001:alice\n"
                "other:x:2002:bob\n")
    sock = os.path.join(short_dir, "agent.sock")
    log = open(os.path.join(short_dir, "agent.log"), "wb")
    script = (f"mount --bind {passwd} /etc/passwd && mount --bind {group} /etc/group && "
              f"exec {ember_bin('ember-agent')} --listen unix:{sock}")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            stdout=log, stderr=log)
    try:
        addr = f"unix:{sock}"
        assert ctl(addr, "wait-ready", "--timeout", "10").returncode == 0
        r = ctl(addr, "exec", "-u", "alice", "--", "sh", "-c",
                'id -u; id -g; id -G; echo "$HOME"; pwd')
        assert r.returncode == 0, r.stderr
        uid, gid, groups, home, cwd = r.stdout.decode().splitlines()
        assert (uid, gid) == ("1234", "1234")
        assert sorted(groups.split()) == ["1234", "2000", "2001"]
        assert home == "/home/alice"
        r = ctl(addr, "exec", "-u", "1234:2002", "--", "sh", "-c", "id -u; id -g")
        assert r.stdout.decode().split() == ["1234", "2002"]
        r = ctl(addr, "exec", "-u", "mallory", "--", "true")
        assert r.returncode == EXIT_REMOTE
        assert b"mallory" in r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_secret_file_limits(agent, ctl, short_dir):
    big = os.path.join(short_dir, "big-secret")
    with open(big, "w") as f:
        f.write("K=" + "v" * (64 * 1024))
    r = ctl(agent.addr, "start", "--secret-file", big)
    assert r.returncode == EXIT_USAGE
    assert b"65536" in r.stderr
    bad = os.path.join(short_dir, "bad-secret")
    with open(bad, "w") as f:
        f.write("no equals sign\n")
    r = ctl(agent.addr, "start", "--secret-file", bad)
    assert r.returncode == EXIT_USAGE
    assert b"KEY=VALUE" in r.stderr


def test_request_over_frame_limit(agent, ctl):
    r = ctl(agent.addr, "exec", "--", "echo", *["x" * (110 * 1024)] * 10)
    assert r.returncode == EXIT_USAGE
    assert b"1048576" in r.stderr
    assert ctl(agent.addr, "ping").returncode == 0
