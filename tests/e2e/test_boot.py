"""Booting for real. Covers the root on a virtio-blk ext4 image and an
initramfs-only guest, and entrypoint exit statuses on the console and through
`emberctl wait`. Also covers `ip=` on a kernel without CONFIG_IP_PNP, hostname
and resolv.conf, start mode "host", and the agent restarted by init."""
import re
import time

import pytest

from guest_image import base_config

# The entrypoint waits for the host's signal (a file created through exec), so
# `emberctl wait` is connected before the entrypoint exits.
WAIT_FOR_GO = "while [ ! -e /tmp/go ]; do sleep 0.1; done; "
POWEROFF_TIMEOUT_S = 60
KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\] ")


@pytest.mark.parametrize("script, status", [
    ("exit 0", 0),
    ("exit 3", 3),
    ("kill -KILL $$", 128 + 9),
])
def test_entrypoint_status_reaches_host(ember_guest, script, status):
    guest = ember_guest(base_config(args=["/bin/sh", "-c", WAIT_FOR_GO + script]))
    waiter = guest.popen("wait", stdout=-1, stderr=-1)
    # NOTE: `wait` must be registered with init before the entrypoint exits;
    # the ping below runs after the wait connection is accepted.
    guest.ctl("ping", check=True)
    guest.run("touch /tmp/go")

    stdout, stderr = waiter.communicate(timeout=POWEROFF_TIMEOUT_S)
    assert waiter.returncode == status, stderr
    assert guest.machine.exit_status(POWEROFF_TIMEOUT_S) == status
    # The kernel's own "reboot: Power down" (printed at KERN_EMERG, which no
    # console log level hides) may follow, so kernel lines are left out.
    lines = [line for line in guest.machine.console().splitlines()
             if line.strip() and not KERNEL_LINE.match(line)]
    assert re.search(rf"^ember: exit status {status}\s*$", lines[-1])


def test_root_on_virtio_blk_ext4(disk_guest):
    guest = disk_guest(base_config())
    mounts = guest.run("cat /proc/mounts")
    root = [line.split() for line in mounts.splitlines() if line.split()[1] == "/"]
    assert root[-1][0] == "/dev/vda"
    assert root[-1][2] == "ext4"
    assert guest.run("readlink /proc/1/exe").strip() == "/sbin/ember-init"
    assert "switched to the root /dev/vda" in guest.machine.console()
    # The initramfs is gone after switching root: /init is not on the ext4 image.
    assert guest.run("test -e /init && echo present || echo absent").strip() == "absent"
    guest.ctl("shutdown", check=True)
    assert guest.machine.exit_status(POWEROFF_TIMEOUT_S) is not None


def test_ip_cmdline_configures_eth0(ember_guest):
    config = base_config(network=False)
    guest = ember_guest(config, append="ip=10.0.2.15::10.0.2.2:255.255.255.0:ipguest:eth0:off")
    addresses = guest.run("ip -4 -o addr show dev eth0")
    assert "inet 10.0.2.15/24" in addresses
    routes = guest.run("ip -4 route show default")
    assert "default via 10.0.2.2 dev eth0" in routes


def test_hostname_and_resolv_conf(ember_guest):
    config = base_config()
    config["hostname"] = "e2e-host"
    config["network"]["dns"] = ["10.0.2.3", "192.0.2.53"]
    config["network"]["search"] = ["example.internal"]
    guest = ember_guest(config)
    assert guest.run("hostname").strip() == "e2e-host"
    resolv = guest.run("cat /etc/resolv.conf")
    assert "nameserver 10.0.2.3" in resolv
    assert "nameserver 192.0.2.53" in resolv
    assert "search example.internal" in resolv


def test_start_mode_host_delivers_env(ember_guest):
    config = base_config(args=["/bin/sh", "-c", 'echo "greeting=$GREETING"; exit 4'])
    config["start_mode"] = "host"
    guest = ember_guest(config)
    status = guest.run("cat /run/ember/status")
    assert "waiting-for-start" in status

    guest.ctl("start", "-e", "GREETING=hello-from-host", check=True)
    waited = guest.ctl("wait", timeout=POWEROFF_TIMEOUT_S)
    assert waited.returncode == 4, waited.stderr
    assert guest.machine.exit_status(POWEROFF_TIMEOUT_S) == 4
    assert "greeting=hello-from-host" in guest.machine.console()


def test_agent_restarted_after_kill(ember_guest):
    guest = ember_guest(base_config())
    before = guest.run("pidof ember-agent").split()
    assert len(before) == 1
    # The exec's own connection dies with the agent, so its result is ignored.
    guest.ctl("exec", "--", "/bin/sh", "-c", "kill -KILL $(pidof ember-agent)", timeout=30)

    guest.wait_ready()
    after = guest.run("pidof ember-agent").split()
    assert len(after) == 1
    assert after != before
    assert guest.run("echo answered").strip() == "answered"


def test_boot_timings_in_info(ember_guest):
    started = time.monotonic()
    guest = ember_guest(base_config())
    ready_s = time.monotonic() - started
    info = guest.ctl("info", "--json", check=True).stdout
    assert "entrypoint" in info
    timings = guest.run("cat /run/ember/boot-timings")
    steps = [line.split()[0] for line in timings.splitlines()]
    assert steps, timings
    print(f"host: boot to agent ready {ready_s:.2f}s; init steps {steps}")


def test_cmdline_words_replace_cmd(ember_guest):
    guest = ember_guest(base_config(), ready=False,
                        append='-- /bin/sh -c "echo replaced-cmd; exit 9"')
    assert guest.machine.exit_status(POWEROFF_TIMEOUT_S) == 9
    assert "replaced-cmd" in guest.machine.console()


def test_invalid_config_panics_with_location(ember_guest):
    broken = b'{\n  "hostname": "x",\n  "process": {"args": ["/bin/sh",]}\n}\n'
    guest = ember_guest(base_config(), ready=False, files={"/etc/ember/config.json": broken})
    status = guest.machine.exit_status(POWEROFF_TIMEOUT_S)
    console = guest.machine.console()
    assert status is not None and status != 0, console[-2000:]
    # FILE:LINE:COLUMN of the stray comma's closing bracket.
    assert re.search(r"/etc/ember/config\.json:3:\d+: ", console), console[-2000:]
