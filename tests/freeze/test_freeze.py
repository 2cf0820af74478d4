"""freeze, thaw, fsstatus, resume and netconfig through emberctl, against
ember-agent in a private namespace, on ext4 images the tests create."""
import json
import os
import shutil
import subprocess
import time

from freeze_ns import field_bytes, field_varint, parse_mounts, send_request

# Seconds a write must stay blocked to count as blocked by the freeze.
BLOCKED_S = 0.5


def start_writer(ns, path):
    """A write that blocks while the filesystem under path is frozen."""
    return ns.spawn("dd", "if=/dev/zero", f"of={path}", "bs=4k", "count=1", "conv=fsync")


def assert_write_blocked(ns, path):
    proc, _ = start_writer(ns, path)
    time.sleep(BLOCKED_S)
    assert proc.poll() is None, "a write finished on a frozen filesystem"
    return proc


def assert_writable(ns, path):
    proc, _ = start_writer(ns, path)
    assert proc.wait(timeout=10) == 0


def is_frozen(ns, mountpoint):
    """Freezing again fails with EBUSY on a frozen filesystem. A freeze that
    worked is undone at once."""
    proc = ns.run("fsfreeze", "--freeze", mountpoint, check=False)
    if proc.returncode == 0:
        ns.run("fsfreeze", "--unfreeze", mountpoint)
        return False
    assert "busy" in proc.stderr.lower(), proc.stderr
    return True


def agent_fds_under(agent, path):
    """The targets of the agent's descriptors that are path or lie below it."""
    fd_dir = f"/proc/{agent.agent_pid}/fd"
    targets = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except FileNotFoundError:
            continue
        if target == path or target.startswith(path + "/"):
            targets.append(target)
    return targets


def test_two_images_and_bind_frozen_once(ns):
    a = ns.image("a")
    b = ns.image("b")
    bind = ns.bind(a, "bind")
    agent = ns.agent()

    out = ns.freeze(agent, a, b, bind).stdout
    mounts = parse_mounts(out)
    assert mounts[a][0] == "frozen"
    assert mounts[b][0] == "frozen"
    assert mounts[bind][0] == "frozen"
    assert mounts[a][1] == "ext4"
    # The bind mount and the image share a superblock: one of them names the other.
    shared = [m for m in (a, bind) if mounts[m][3].startswith("same filesystem as")]
    assert len(shared) == 1
    assert "auto-thaw in 60 s" in out
    assert is_frozen(ns, a)
    assert is_frozen(ns, b)

    writer = assert_write_blocked(ns, os.path.join(a, "file"))
    out = ns.ctl(agent, "thaw").stdout
    assert parse_mounts(out)[a][0] == "thawed"
    assert writer.wait(timeout=10) == 0
    assert not is_frozen(ns, b)
    assert not os.path.exists(os.path.join(ns.run_dir, "frozen"))


def test_record_lists_frozen_mounts(ns):
    a = ns.image("a")
    b = ns.image("b")
    agent = ns.agent()

    ns.freeze(agent, a, b)
    with open(os.path.join(ns.run_dir, "frozen")) as f:
        lines = f.read().splitlines()
    assert sorted(lines) == sorted([a, b])
    # Innermost first: b was mounted after a, so it is frozen first.
    assert lines == [b, a]
    ns.ctl(agent, "thaw")


def test_tmpfs_skipped_and_reported(ns):
    a = ns.image("a")
    t = ns.tmpfs("t")
    agent = ns.agent()

    mounts = parse_mounts(ns.freeze(agent, a, t).stdout)
    assert mounts[t][0] == "skipped"
    assert mounts[t][1] == "tmpfs"
    assert "does not support freezing" in mounts[t][3]
    assert mounts[a][0] == "frozen"
    ns.ctl(agent, "thaw")
    assert_writable(ns, os.path.join(a, "file"))


def shut_down_ext4(ns, mountpoint):
    """EXT4_IOC_SHUTDOWN without a log flush: every later sync of it fails with EIO."""
    script = ("import fcntl, os, struct, sys\n"
              "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
              "fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))\n")
    ns.run("/usr/bin/python3", "-c", script, mountpoint)


def test_failure_part_way_thaws_the_others(ns):
    # Mounted first, so frozen last: the two others are frozen before it fails.
    bad = ns.image("bad")
    a = ns.image("a")
    b = ns.image("b")
    shut_down_ext4(ns, bad)
    agent = ns.agent()

    proc = ns.freeze(agent, a, b, bad, check=False)
    assert proc.returncode != 0
    assert f"failed to freeze '{bad}'" in proc.stderr
    assert "thawed" in proc.stderr
    assert not is_frozen(ns, a)
    assert not is_frozen(ns, b)
    assert_writable(ns, os.path.join(a, "file"))
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: no" in status
    # The mounts the freeze never reached read as thawed, like the rolled-back ones.
    mounts = parse_mounts(status)
    for mountpoint in (a, b, bad):
        assert mounts[mountpoint][0] == "thawed", status
        assert agent_fds_under(agent, mountpoint) == []
    assert not os.path.exists(os.path.join(ns.run_dir, "frozen"))
    # exec is allowed again once the failed freeze is over.
    assert ns.ctl(agent, "exec", "--", "/bin/true").returncode == 0
    proc = ns.umount(a)
    assert proc.returncode == 0, proc.stderr


def test_deadline_auto_thaws(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a, options=("--timeout", "1"))
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: yes" in status
    assert "auto-thaw in 1 s" in status
    writer = assert_write_blocked(ns, os.path.join(a, "file"))
    assert writer.wait(timeout=5) == 0
    assert "frozen: no" in ns.ctl(agent, "fsstatus").stdout
    assert not is_frozen(ns, a)
    assert "auto-thaw" in agent.log()
    assert agent_fds_under(agent, a) == []
    proc = ns.umount(a)
    assert proc.returncode == 0, proc.stderr


def test_thaw_releases_mount_point(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a)
    # FITHAW needs a descriptor opened before the freeze.
    assert agent_fds_under(agent, a) != []
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    assert agent_fds_under(agent, a) == []
    proc = ns.umount(a)
    assert proc.returncode == 0, proc.stderr
    # fs_status still reports the last freeze's mounts.
    status = ns.ctl(agent, "fsstatus").stdout
    assert parse_mounts(status)[a][0] == "thawed"

    # With the first plan's descriptors closed, a later thaw, freeze and
    # agent exit still work.
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    b = ns.image("b")
    ns.freeze(agent, b)
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    assert agent_fds_under(agent, b) == []
    agent.stop()
    assert agent.proc.returncode == 0
    assert "failed" not in agent.log()


def test_freeze_of_skipped_mounts_blocks_nothing(ns):
    t = ns.tmpfs("t")
    ns.hook("freeze.d", "10-log", "exit 0")
    ns.hook("resume.d", "10-renew", "exit 0")
    source = os.path.join(ns.dir, "source.txt")
    with open(source, "w") as f:
        f.write("copied\n")
    agent = ns.agent()

    out = ns.freeze(agent, t).stdout
    assert parse_mounts(out)[t][0] == "skipped"
    assert agent_fds_under(agent, t) == []
    assert ns.ctl(agent, "exec", "--", "/bin/true").returncode == 0
    ns.ctl(agent, "cp", source, f":{t}/copied.txt")
    assert ns.run("cat", f"{t}/copied.txt").stdout == "copied\n"
    info = json.loads(ns.ctl(agent, "info", "--json").stdout)
    assert info["frozen"] is False
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: no" in status
    # The deadline still counts down to the auto-thaw that runs the thaw hooks.
    assert "auto-thaw in 60 s" in status
    out = ns.ctl(agent, "resume", "--no-clock", "--no-entropy").stdout
    assert "not run while filesystems are frozen" not in out

    proc = ns.freeze(agent, t, check=False)
    assert proc.returncode != 0
    assert "froze nothing" in proc.stderr
    assert "thaw first" in proc.stderr

    out = ns.ctl(agent, "thaw", "--no-clock", "--no-entropy").stdout
    assert parse_mounts(out)[t][0] == "skipped"
    # The thaw applies the host state as resume does, so the resume hook runs again.
    assert ns.hook_lines() == ["10-log freeze", "10-renew resume", "10-log thaw",
                              "10-renew resume"]
    assert "auto-thaw" not in ns.ctl(agent, "fsstatus").stdout


def test_skipped_only_freeze_auto_thaw_runs_hooks(ns):
    t = ns.tmpfs("t")
    ns.hook("freeze.d", "10-log", "exit 0")
    agent = ns.agent()

    ns.freeze(agent, t, options=("--timeout", "1"))
    deadline = time.monotonic() + 5
    while "10-log thaw" not in ns.hook_lines() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ns.hook_lines() == ["10-log freeze", "10-log thaw"]
    assert "auto-thaw" in agent.log()
    assert "auto-thaw" not in ns.ctl(agent, "fsstatus").stdout
    # The auto-thaw closed the freeze, so a new one is allowed.
    ns.freeze(agent, t)
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")


def test_restarted_agent_thaws(ns):
    a = ns.image("a")
    b = ns.image("b")
    agent = ns.agent()

    ns.freeze(agent, a, b)
    agent.kill()
    assert is_frozen(ns, a)
    assert os.path.exists(os.path.join(ns.run_dir, "frozen"))

    writer = assert_write_blocked(ns, os.path.join(b, "file"))
    restarted = ns.agent()
    assert writer.wait(timeout=10) == 0
    assert not is_frozen(ns, a)
    assert not os.path.exists(os.path.join(ns.run_dir, "frozen"))
    assert "thawed 2 filesystems" in restarted.log()
    assert "frozen: no" in ns.ctl(restarted, "fsstatus").stdout


def test_exec_rejected_while_frozen_ping_allowed(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a)
    proc = ns.ctl(agent, "exec", "--", "/bin/true", check=False)
    assert proc.returncode != 0
    assert "filesystems are frozen" in proc.stderr
    ns.ctl(agent, "ping")
    info = json.loads(ns.ctl(agent, "info", "--json").stdout)
    assert info["frozen"] is True
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: yes" in status
    assert parse_mounts(status)[a][0] == "frozen"

    proc = ns.freeze(agent, a, check=False)
    assert proc.returncode != 0
    assert "already frozen" in proc.stderr

    ns.ctl(agent, "thaw")
    assert ns.ctl(agent, "exec", "--", "/bin/true").returncode == 0


def test_copy_in_rejected_while_frozen(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a)
    reply = send_copy_in(agent, os.path.join(a, "dst.txt"))
    assert "filesystems are frozen" in reply
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    assert not os.path.exists(os.path.join(a, "dst.txt"))


def send_copy_in(agent, dest):
    """Sends CopyInRequest{dest} (Request field 20)."""
    return send_request(agent, 20, field_bytes(1, dest))


def test_agent_rejects_long_freeze_timeout(ns):
    a = ns.image("a")
    agent = ns.agent()

    reply = send_request(agent, 22, field_bytes(1, a) + field_varint(2, 3601))
    assert "freeze timeout 3601 s exceeds the maximum of 3600 s" in reply
    assert not is_frozen(ns, a)


def test_agent_rejects_too_many_mountpoints(ns):
    a = ns.image("a")
    agent = ns.agent()

    reply = send_request(agent, 22, field_bytes(1, a) * 257)
    assert "257 mount points exceed the maximum of 256" in reply
    assert not is_frozen(ns, a)


def test_agent_rejects_too_many_addresses(ns):
    ns.run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    agent = ns.agent()

    body = field_bytes(1, "v0") + field_bytes(4, "10.0.0.1/24") * 65
    reply = send_request(agent, 26, body)
    assert "65 addresses and 0 routes exceed the maximum of 64 each" in reply


def test_too_many_hooks_rejected(ns):
    a = ns.image("a")
    for i in range(65):
        ns.hook("freeze.d", f"{i:02d}-hook", "exit 0")
    agent = ns.agent()

    proc = ns.freeze(agent, a, check=False)
    assert proc.returncode != 0
    assert "more than the maximum of 64 hooks" in proc.stderr
    assert ns.hook_lines() == []
    assert not is_frozen(ns, a)


def test_cgroup_that_cannot_freeze_times_out(ns):
    a = ns.image("a")
    b = ns.image("b")
    cgroup = ns.make_cgroup()
    # A writer blocked on a frozen filesystem sleeps uninterruptibly, and the
    # cgroup freezer cannot stop it until the write returns.
    ns.run("fsfreeze", "--freeze", b)
    writer, writer_pid = start_writer(ns, os.path.join(b, "file"))
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(writer_pid))
    agent = ns.agent()

    start = time.monotonic()
    proc = ns.freeze(agent, a, options=("--processes",), check=False)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert f"failed to freeze the workload cgroup '{cgroup}'" in proc.stderr
    assert 4.5 < elapsed < 10
    with open(os.path.join(cgroup, "cgroup.freeze")) as f:
        assert f.read().strip() == "0"
    assert not is_frozen(ns, a)
    ns.run("fsfreeze", "--unfreeze", b)
    assert writer.wait(timeout=10) == 0


def test_hooks_run_in_order_with_arguments(ns):
    a = ns.image("a")
    ns.hook("freeze.d", "20-second", "exit 0")
    ns.hook("freeze.d", "10-first", "exit 0")
    ns.hook("freeze.d", ".hidden", "exit 1")
    with open(os.path.join(ns.hooks_dir, "freeze.d", "README"), "w") as f:
        f.write("not executable\n")
    agent = ns.agent()

    out = ns.freeze(agent, a).stdout
    assert ns.hook_lines() == ["10-first freeze", "20-second freeze"]
    assert "hook: 10-first: exit status 0" in out
    out = ns.ctl(agent, "thaw").stdout
    assert ns.hook_lines()[2:] == ["10-first thaw", "20-second thaw"]
    assert "hook: 20-second: exit status 0" in out


def test_failing_hook_aborts_freeze(ns):
    a = ns.image("a")
    ns.hook("freeze.d", "10-ok", "exit 0")
    failing = ns.hook("freeze.d", "20-fail", "exit 3")
    ns.hook("freeze.d", "30-never", "exit 0")
    agent = ns.agent()

    proc = ns.freeze(agent, a, check=False)
    assert proc.returncode != 0
    assert f"hook '{failing}' failed with exit status 3" in proc.stderr
    assert "nothing was frozen" in proc.stderr
    lines = ns.hook_lines()
    assert "30-never freeze" not in lines
    assert lines[:2] == ["10-ok freeze", "20-fail freeze"]
    assert "10-ok thaw" in lines
    assert not is_frozen(ns, a)
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: no" in status
    # The aborted freeze never reached the mount, which reads as thawed.
    assert parse_mounts(status)[a][0] == "thawed", status
    assert agent_fds_under(agent, a) == []


def test_hung_hook_times_out(ns):
    a = ns.image("a")
    ns.hook("freeze.d", "10-hang", '[ "$1" = freeze ] && exec sleep 60')
    agent = ns.agent()

    # The agent kills a hook after HOOK_TIMEOUT_MS (10 s).
    start = time.monotonic()
    proc = ns.freeze(agent, a, check=False)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "timed out after 10000 ms" in proc.stderr
    assert 9 < elapsed < 15
    assert not is_frozen(ns, a)
    assert ns.hook_lines() == ["10-hang freeze", "10-hang thaw"]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_cgroup_freeze_stops_busy_process(ns):
    a = ns.image("a")
    cgroup = ns.make_cgroup()
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(busy.pid))
        agent = ns.agent()

        out = ns.freeze(agent, a, options=("--processes",)).stdout
        assert "processes: frozen" in out
        with open(os.path.join(cgroup, "cgroup.events")) as f:
            assert "frozen 1" in f.read()
        before = cpu_ticks(busy.pid)
        time.sleep(0.5)
        assert cpu_ticks(busy.pid) == before
        assert "processes frozen: yes" in ns.ctl(agent, "fsstatus").stdout

        ns.ctl(agent, "thaw")
        with open(os.path.join(cgroup, "cgroup.events")) as f:
            assert "frozen 0" in f.read()
        before = cpu_ticks(busy.pid)
        time.sleep(0.5)
        assert cpu_ticks(busy.pid) > before
    finally:
        busy.kill()
        busy.wait()


def test_200_cycles_under_write_load(ns):
    a = ns.image("a", size_mb=32)
    agent = ns.agent()
    writer, _ = ns.spawn("sh", "-c",
                         f"i=0; while :; do dd if=/dev/urandom of={a}/f$((i % 8)) bs=64k "
                         "count=4 conv=fsync 2>/dev/null; i=$((i + 1)); done")
    copy = os.path.join(ns.dir, "snapshot.img")
    checked = 0
    for cycle in range(200):
        ns.freeze(agent, a)
        if cycle % 40 == 39:
            # The image as a disk snapshot reads it: copied while the filesystem is frozen.
            shutil.copyfile(ns.image_path("a"), copy)
            fsck = subprocess.run(["e2fsck", "-fn", copy], capture_output=True, text=True)
            assert fsck.returncode == 0, fsck.stdout + fsck.stderr
            checked += 1
        ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    assert checked == 5
    assert writer.poll() is None
    files = ns.run("ls", a).stdout.split()
    assert len([f for f in files if f.startswith("f")]) == 8


def test_no_list_refused_in_test_namespace(ns):
    agent = ns.agent()

    proc = ns.ctl(agent, "freeze", check=False)
    assert proc.returncode != 0
    assert "list the mount points to freeze" in proc.stderr
    assert "frozen: no" in ns.ctl(agent, "fsstatus").stdout


def test_own_filesystem_refused_in_test_namespace(ns):
    # The agent's executable lives on the image, as it lives on the machine's
    # root filesystem when a test runs it from the build tree.
    a = ns.image("a")
    binary = os.path.join(a, "ember-agent")
    ns.run("cp", ns.agent_binary, binary)
    agent = ns.agent(binary=binary)

    proc = ns.freeze(agent, a, check=False)
    assert proc.returncode != 0
    assert "contains the agent's own executable" in proc.stderr
    assert not is_frozen(ns, a)
    assert "frozen: no" in ns.ctl(agent, "fsstatus").stdout


def test_resume_reports_actions_not_taken(ns):
    agent = ns.agent()
    ns.hook("resume.d", "10-renew", "exit 0")

    out = ns.ctl(agent, "resume").stdout
    assert "clock skew:" in out
    assert "(not corrected)" in out
    assert "entropy: 0 bytes added, RNG not reseeded" in out
    assert "skipped: entropy: 64 bytes not added" in out
    assert "not in the initial PID namespace" in out
    assert "hook: 10-renew: exit status 0" in out
    assert ns.hook_lines() == ["10-renew resume"]


def test_thaw_carries_host_state(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a)
    out = ns.ctl(agent, "thaw").stdout
    assert "skipped: entropy: 64 bytes not added" in out
    assert parse_mounts(out)[a][0] == "thawed"
    # The second thaw finds nothing frozen: it applies the host state and
    # lists no mount, while fsstatus still shows the last freeze.
    out = ns.ctl(agent, "thaw", "--no-entropy").stdout
    assert "skipped: entropy: the request carried none" in out
    assert "nothing was frozen" in out
    assert parse_mounts(out) == {}
    assert parse_mounts(ns.ctl(agent, "fsstatus").stdout)[a][0] == "thawed"


def test_resume_while_frozen_skips_hooks(ns):
    a = ns.image("a")
    ns.hook("resume.d", "10-renew", "exit 0")
    agent = ns.agent()

    ns.freeze(agent, a)
    out = ns.ctl(agent, "resume").stdout
    assert "resume hooks: not run while filesystems are frozen" in out
    assert ns.hook_lines() == []
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")


def test_invalid_freeze_requests(ns):
    a = ns.image("a")
    ns.run("mkdir", os.path.join(a, "dir"))
    agent = ns.agent()

    proc = ns.freeze(agent, "relative/path", check=False)
    assert "give an absolute path" in proc.stderr
    proc = ns.ctl(agent, "freeze", os.path.join(a, "dir"), check=False)
    assert "is not a mount point" in proc.stderr
    proc = ns.ctl(agent, "freeze", os.path.join(ns.dir, "missing"), check=False)
    assert "failed to resolve mount point" in proc.stderr
    proc = ns.ctl(agent, "freeze", "--timeout", "99999", a, check=False)
    assert proc.returncode == 122
    assert "invalid --timeout" in proc.stderr
    assert "frozen: no" in ns.ctl(agent, "fsstatus").stdout
    # Thawing with nothing frozen succeeds.
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")


def ip_json(ns, *args):
    return json.loads(ns.run("ip", "-j", *args).stdout)


def test_netconfig_replaces_mac_addresses_routes(ns):
    ns.run("ip", "link", "add", "v0", "address", "02:00:00:00:00:01", "type", "veth",
           "peer", "name", "v1")
    ns.run("ip", "link", "set", "v0", "up")
    ns.run("ip", "addr", "add", "10.1.0.2/24", "dev", "v0")
    ns.run("ip", "route", "add", "default", "via", "10.1.0.1")
    agent = ns.agent()

    out = ns.ctl(agent, "netconfig", "--mac", "02:00:00:00:00:01", "--new-mac",
                 "02:00:00:00:00:42", "--address", "10.2.0.5/24", "--address",
                 "fd00:2::5/64", "--route", "default via 10.2.0.1", "--route",
                 "192.168.7.0/24 via 10.2.0.9").stdout
    assert "configured v0" in out
    link = ip_json(ns, "link", "show", "v0")[0]
    assert link["address"] == "02:00:00:00:00:42"
    assert "UP" in link["flags"]
    addrs = {(a["local"], a["prefixlen"]) for a in ip_json(ns, "addr", "show", "v0")[0]["addr_info"]
             if a.get("scope") == "global"}
    assert addrs == {("10.2.0.5", 24), ("fd00:2::5", 64)}
    routes = {(r["dst"], r.get("gateway")) for r in ip_json(ns, "route", "show")}
    assert ("default", "10.2.0.1") in routes
    assert ("192.168.7.0/24", "10.2.0.9") in routes
    assert ("default", "10.1.0.1") not in routes


def test_netconfig_invalid_input(ns):
    ns.run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    agent = ns.agent()

    proc = ns.ctl(agent, "netconfig", "--interface", "nope0", check=False)
    assert "no interface named 'nope0'" in proc.stderr
    proc = ns.ctl(agent, "netconfig", "--interface", "v0", "--new-mac", "01:00:00:00:00:01",
                  check=False)
    assert "invalid new MAC address '01:00:00:00:00:01'" in proc.stderr
    proc = ns.ctl(agent, "netconfig", "--interface", "v0", "--address", "10.0.0.1",
                  check=False)
    assert "invalid address '10.0.0.1'" in proc.stderr
    proc = ns.ctl(agent, "netconfig", "--interface", "v0", "--route", "via 10.0.0.1",
                  check=False)
    assert "invalid route" in proc.stderr
    proc = ns.ctl(agent, "netconfig", "--mac", "02:00:00:00:00:99", check=False)
    assert "no interface has MAC address" in proc.stderr


def test_agent_stop_thaws(ns):
    a = ns.image("a")
    agent = ns.agent()

    ns.freeze(agent, a)
    writer = assert_write_blocked(ns, os.path.join(a, "file"))
    agent.stop()
    assert agent.proc.returncode == 0
    assert writer.wait(timeout=10) == 0
    assert not is_frozen(ns, a)
    assert not os.path.exists(os.path.join(ns.run_dir, "frozen"))


def test_thaw_during_freeze_is_unavailable(ns):
    a = ns.image("a")
    ns.hook("freeze.d", "10-slow", '[ "$1" = freeze ] && sleep 1')
    agent = ns.agent()

    freezing = subprocess.Popen([ns.emberctl_binary, "-c", agent.addr, "freeze", a],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while ns.hook_lines() == [] and time.monotonic() < deadline:
        time.sleep(0.02)
    proc = ns.ctl(agent, "thaw", "--no-clock", "--no-entropy", check=False)
    assert proc.returncode != 0
    assert "in progress" in proc.stderr
    proc = ns.ctl(agent, "exec", "--", "/bin/true", check=False)
    assert "filesystems are frozen" in proc.stderr
    ns.ctl(agent, "ping")
    assert freezing.wait(timeout=10) == 0
    ns.ctl(agent, "thaw", "--no-clock", "--no-entropy")
    assert not is_frozen(ns, a)


def ns_pid(host_pid):
    """The pid of a process inside its own PID namespace (the last NSpid)."""
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError(f"no NSpid line for {host_pid}")


def test_resume_signals_entrypoint(ns):
    marker = os.path.join(ns.dir, "renewed")
    entrypoint, host_pid = ns.spawn(
        "sh", "-c", f"trap 'echo renewed > {marker}; exit 0' USR1; while :; do sleep 0.05; done")
    with open(os.path.join(ns.run_dir, "status"), "w") as f:
        json.dump({"state": "running", "pid": ns_pid(host_pid)}, f)
    agent = ns.agent(["--resume-signal", "10"])

    out = ns.ctl(agent, "resume", "--no-clock", "--no-entropy").stdout
    assert "signal" not in out
    assert entrypoint.wait(timeout=10) == 0
    with open(marker) as f:
        assert f.read() == "renewed\n"


def test_resume_signal_without_entrypoint(ns):
    agent = ns.agent(["--resume-signal", "10"])

    out = ns.ctl(agent, "resume", "--no-clock", "--no-entropy").stdout
    assert "skipped: signal 10: no running entrypoint" in out


def test_client_gone_mid_freeze_keeps_deadline(ns):
    a = ns.image("a")
    ns.hook("freeze.d", "10-slow", '[ "$1" = freeze ] && sleep 0.5')
    agent = ns.agent()

    client = subprocess.Popen([ns.emberctl_binary, "-c", agent.addr, "freeze", "--timeout", "2", a],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while ns.hook_lines() == [] and time.monotonic() < deadline:
        time.sleep(0.02)
    client.kill()
    client.wait()
    time.sleep(1)
    status = ns.ctl(agent, "fsstatus").stdout
    assert "frozen: yes" in status
    assert is_frozen(ns, a)
    time.sleep(2)
    assert "frozen: no" in ns.ctl(agent, "fsstatus").stdout
    assert not is_frozen(ns, a)
    assert "auto-thaw" in agent.log()
