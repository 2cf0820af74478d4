"""ember-init as PID 1: early mounts, config errors, the kernel command line,
exit status lines, boot timings and the final read-only remount."""
import os
import shutil
import tempfile
import resource
import signal
import subprocess

import pytest

from testroot import TestRoot

PANIC_STATUS = 256


def sh(script, **process):
    return {"process": dict({"args": ["/bin/sh", "-c", script]}, **process)}


def mount_options(output, target):
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == target:
            return fields[2], set(fields[3].split(","))
    raise AssertionError(f"{target} is not mounted:\n{output}")


def test_early_mounts_and_options(root):
    root.write_config(sh("cat /proc/mounts; echo ---; "
                         "stat -c '%a %n' /dev/shm; "
                         "for l in /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx; do "
                         "echo \"$l -> $(readlink $l)\"; done"))
    result = root.boot()
    out = result.output
    assert result.exit_line == "ember: exit status 0", out
    fstype, opts = mount_options(out, "/proc")
    assert fstype == "proc"
    assert {"nosuid", "nodev", "noexec"} <= opts
    fstype, opts = mount_options(out, "/sys")
    assert fstype == "sysfs"
    assert {"nosuid", "nodev", "noexec"} <= opts
    fstype, opts = mount_options(out, "/dev/pts")
    assert fstype == "devpts"
    assert {"gid=5", "mode=620", "ptmxmode=666"} <= opts
    assert mount_options(out, "/dev/shm")[0] == "tmpfs"
    assert "1777 /dev/shm" in out
    assert mount_options(out, "/dev/mqueue")[0] == "mqueue"
    fstype, opts = mount_options(out, "/run")
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "mode=755"} <= opts
    assert mount_options(out, "/sys/fs/cgroup")[0] == "cgroup2"
    # The test's own tmpfs on /dev was already mounted and is kept.
    assert mount_options(out, "/dev")[0] == "tmpfs"
    assert out.count(" /proc proc ") == 1
    assert "/dev/fd -> /proc/self/fd" in out
    assert "/dev/stdin -> /proc/self/fd/0" in out
    assert "/dev/stdout -> /proc/self/fd/1" in out
    assert "/dev/stderr -> /proc/self/fd/2" in out
    assert "/dev/ptmx -> pts/ptmx" in out


@pytest.mark.parametrize("script,status", [
    ("exit 0", 0),
    ("exit 42", 42),
    ("kill -KILL $$", 137),
    ("kill -SEGV $$", 139),
])
def test_exit_status_line(root, script, status):
    root.write_config(sh(script))
    result = root.boot()
    assert result.exit_line == f"ember: exit status {status}", result.output
    assert result.powered_off, result.returncode


def test_not_executable_is_126(root):
    root.write("bin/data.txt", "not a program\n", mode=0o644)
    root.write_config({"process": {"args": ["/bin/data.txt"]}})
    result = root.boot()
    assert "failed to execute '/bin/data.txt': Permission denied" in result.output
    assert result.exit_line == "ember: exit status 126", result.output


def test_missing_binary_is_127(root):
    root.write_config({"process": {"args": ["no-such-program", "x"]}})
    result = root.boot()
    assert "failed to execute 'no-such-program': No such file or directory" in result.output
    assert result.exit_line == "ember: exit status 127", result.output


def test_argv0_searched_in_image_path(root):
    root.write("opt/tools/hello", "#!/bin/sh\necho hello from tools\n", mode=0o755)
    root.write_config({"process": {"args": ["hello"], "env": ["PATH=/opt/tools:/bin"]}})
    result = root.boot()
    assert "hello from tools" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_bad_json_panics_with_position(root):
    root.write("etc/ember/config.json", '{\n  "hostname": "x",\n  "process": {,}\n}\n')
    result = root.boot()
    assert "/etc/ember/config.json:3:" in result.output, result.output
    assert "panic: invalid config" in result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"
    assert result.powered_off


def test_unknown_key_panics_naming_it(root):
    root.write_config({"process": {"args": ["/bin/true"], "usr": "alice"}})
    result = root.boot()
    assert "key 'process.usr': unknown key" in result.output, result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"


def test_unknown_user_panics(root):
    root.write_config({"process": {"args": ["/bin/true"], "user": "mallory"}})
    result = root.boot()
    assert "unknown user 'mallory': not found in /etc/passwd" in result.output, result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"


def test_debug_shell_on_panic(root):
    root.write("etc/ember/config.json", "{oops")
    root.set_cmdline("ember.debug=shell")
    root.start(stdin=subprocess.PIPE)
    root.proc.stdin.write(b"echo shell-ran-$((6*7))\nexit\n")
    root.proc.stdin.flush()
    result = root.wait()
    assert "shell-ran-42" in result.output, result.output
    assert result.exit_line == f"ember: exit status {PANIC_STATUS}"


def test_cmdline_overrides_and_cmd(root):
    root.write_config(sh("echo from-config", stop_timeout=10))
    root.set_cmdline('quiet ember.hostname=from-cmdline ember.hostnme=typo '
                     'ember.process.stop_timeout=soon -- /bin/sh -c "echo cmd $(hostname)"')
    result = root.boot()
    out = result.output
    assert "cmd from-cmdline" in out, out
    assert "from-config" not in out
    assert "ignored ember.hostnme=typo" in out
    assert "key 'hostnme': unknown key" in out
    assert "ignored ember.process.stop_timeout=soon" in out
    assert result.exit_line == "ember: exit status 0"


def test_no_config_uses_cmdline_only(root):
    root.set_cmdline("-- /bin/echo only-cmdline")
    result = root.boot()
    assert "only-cmdline" in result.output
    assert "no /etc/ember/config.json" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_reboot_action(root):
    root.write_config(dict(sh("exit 3"), exit_action="reboot"))
    result = root.boot()
    assert result.exit_line == "ember: exit status 3"
    assert result.rebooted, result.returncode


def test_poweroff_action(root):
    root.write_config(sh("exit 0"))
    result = root.boot()
    assert result.returncode == -signal.SIGINT


def test_boot_timings(root):
    root.write_config(sh("cat /run/ember/boot-timings"))
    result = root.boot()
    steps = {}
    for line in result.lines:
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            steps[fields[0]] = int(fields[1])
    assert list(steps) == ["kernel", "init", "mounts", "network", "agent", "entrypoint"], \
        result.output
    values = list(steps.values())
    assert values == sorted(values)
    assert "boot: entrypoint started" in result.output


def test_status_and_ring_files(root):
    root.write_config(sh("echo ring-line; sleep 0.1; cat /run/ember/status; echo; "
                         "grep -c ring-line /run/ember/entrypoint.log"))
    result = root.boot()
    assert '"state": "running"' in result.output, result.output
    assert "\n1\n" in result.output


def test_rlimits_and_sysctls(root):
    root.write_config(dict(sh("ulimit -n; ulimit -c; cat /proc/sys/net/ipv4/ip_forward"),
                           rlimits={"CORE": [0, 0]},
                           sysctls={"net.ipv4.ip_forward": "1", "vm.swappiness": "7"}))
    result = root.boot()
    lines = result.lines
    # NOFILE goes to 1048576, or to the hard limit where the machine caps it lower.
    nofile = str(min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    assert nofile in lines, result.output
    assert "set sysctl net.ipv4.ip_forward=1" in result.output
    assert "skipped sysctl vm.swappiness=7" in result.output
    idx = lines.index(nofile)
    assert lines[idx + 1] == "0"
    assert lines[idx + 2] == "1"


def test_modules_skipped_in_namespace(root):
    root.write_config(dict(sh("true"), modules=["/lib/modules/x/virtio_blk.ko"]))
    result = root.boot()
    assert "skipped loading module /lib/modules/x/virtio_blk.ko" in result.output


def test_extra_mounts(root):
    root.write("srv/shared/file", "shared\n")
    root.write_config(dict(sh("cat /proc/mounts; cat /mnt/bind/file"), mounts=[
        {"target": "/data/scratch", "type": "tmpfs", "options": "noexec,size=2m"},
        {"source": "/srv/shared", "target": "/mnt/bind", "type": "bind", "options": "ro"},
    ]))
    result = root.boot()
    fstype, opts = mount_options(result.output, "/data/scratch")
    assert fstype == "tmpfs"
    assert "noexec" in opts
    assert "size=2048k" in opts
    _, opts = mount_options(result.output, "/mnt/bind")
    assert "ro" in opts
    assert "shared" in result.lines


def test_root_remounted_read_only(tmp_path, ember_bin):
    with TestRoot(tmp_path, ember_bin("ember-init"), fs="ext4") as r:
        r.write_config(sh("echo data > /written-before-exit"))
        result = r.boot()
        assert result.exit_line == "ember: exit status 0", result.output
        opts = subprocess.run(["findmnt", "-no", "OPTIONS", r.path], capture_output=True,
                              text=True, check=True).stdout
        assert opts.split(",")[0] == "ro", opts
        assert r.read("written-before-exit") == "data\n"


def test_refuses_to_run_as_other_pid(ember_bin):
    proc = subprocess.run([ember_bin("ember-init")], capture_output=True, text=True, timeout=5)
    assert proc.returncode == 2
    assert "not PID 1" in proc.stderr
    assert "--check-config" in proc.stderr


def test_check_config_as_normal_user(ember_bin):
    # pytest's tmp_path is private to root, so the file goes to a directory any user can read.
    workdir = tempfile.mkdtemp(prefix="ember-check-config-")
    os.chmod(workdir, 0o755)
    config = os.path.join(workdir, "config.json")
    with open(config, "w") as f:
        f.write('{"process": {"args": ["sh", "-c", "echo"], "user": "nobody", '
                '"env": ["A=1"], "cwd": "/srv"}}')
    os.chmod(config, 0o644)
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
           ember_bin("ember-init"), "--check-config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
    shutil.rmtree(workdir)
    assert proc.returncode == 0, proc.stderr
    assert f"{config}: valid" in proc.stdout
    assert "args: 'sh' '-c' 'echo'" in proc.stdout
    assert "uid=65534" in proc.stdout
    assert "A=1" in proc.stdout
    assert "PATH=" in proc.stdout
    assert "cwd:   /srv" in proc.stdout


def test_check_config_reports_errors(tmp_path, ember_bin):
    config = tmp_path / "config.json"
    config.write_text('{"process": {"args": ["sh"]},\n "exit_action": "explode"}')
    proc = subprocess.run([ember_bin("ember-init"), "--check-config", str(config)],
                          capture_output=True, text=True, timeout=5)
    assert proc.returncode == 1
    assert "key 'exit_action'" in proc.stderr
    config.write_text('{"process": \n [}')
    proc = subprocess.run([ember_bin("ember-init"), "--check-config", str(config)],
                          capture_output=True, text=True, timeout=5)
    assert proc.returncode == 1
    assert f"{config}:2:" in proc.stderr


def test_closed_std_fds_filled(root):
    """A kernel without a console starts init with descriptors 0-2 closed."""
    root.write_config(sh("echo ran > /tmp/ran"))
    cmd = root.command()
    # The shell closes 0-2 just before exec'ing unshare; init inherits that.
    cmd[2] = cmd[2].replace('exec "$@"', 'exec "$@" <&- >&- 2>&-')
    proc = subprocess.run(cmd, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                    "EMBER_CMDLINE_FILE": "/etc/ember/test-cmdline"},
                          timeout=30, capture_output=True)
    assert proc.returncode == -signal.SIGINT
    assert root.read("tmp/ran") == "ran\n"


def test_check_config_resolves_user_in_root(tmp_path, ember_bin):
    image = tmp_path / "image"
    (image / "etc").mkdir(parents=True)
    (image / "etc/passwd").write_text("app:x:1234:1234:App:/srv/app:/bin/sh\n")
    (image / "etc/group").write_text("app:x:1234:\nextra:x:77:app\n")
    config = tmp_path / "config.json"
    config.write_text('{"process": {"args": ["/srv/app/run"], "user": "app"}}')
    check = [ember_bin("ember-init"), "--check-config", str(config), "--root", str(image)]
    proc = subprocess.run(check, capture_output=True, text=True, timeout=5)
    assert proc.returncode == 0, proc.stderr
    assert "uid=1234 gid=1234 groups=1234,77 home=/srv/app" in proc.stdout
    assert "HOME=/srv/app" in proc.stdout
    config.write_text('{"process": {"args": ["/srv/app/run"], "user": "ghost"}}')
    proc = subprocess.run(check, capture_output=True, text=True, timeout=5)
    assert proc.returncode == 1
    assert "unknown user 'ghost'" in proc.stderr


def test_cmdline_env_values_not_logged(root):
    root.set_cmdline('ember.process={"env":["TOKEN=s3cret-a"],"args":["/bin/true"]} '
                     'ember.process.env=[bad-s3cret-b')
    result = root.boot()
    init_lines = [line for line in result.lines if line.startswith("ember-init:")]
    assert "ember-init: info: applied ember.process=... from the kernel command line" in \
        init_lines, result.output
    assert [line for line in init_lines if "ignored ember.process.env=..." in line]
    assert not [line for line in init_lines if "s3cret" in line], init_lines
    assert result.exit_line == "ember: exit status 0"
