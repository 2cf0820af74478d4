"""Network and names under ember-init: interfaces from the config and from
ip= on a veth pair the test creates in init's network namespace, hostname,
/etc/hosts and /etc/resolv.conf."""
import json
import os
import subprocess
import uuid

import pytest


def sh(script, **process):
    return {"process": dict({"args": ["/bin/sh", "-c", script]}, **process)}


WAIT_FOR_STOP = "echo ready; while [ ! -e /tmp/stop ]; do sleep 0.05; done"


def add_veth(pid, guest_name, mac=None):
    """Creates a veth pair whose guest end lives in init's network namespace."""
    host_name = "ev" + uuid.uuid4().hex[:10]
    peer = ["peer", "name", guest_name]
    if mac:
        peer += ["address", mac]
    subprocess.run(["ip", "link", "add", host_name, "type", "veth"] + peer +
                   ["netns", str(pid)], check=True)
    subprocess.run(["ip", "link", "set", host_name, "up"], check=True)
    return host_name


def ns_ip(pid, *args):
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-j"] + list(args),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def stop(root):
    root.write("tmp/stop", "")
    return root.wait()


def test_interface_by_mac(root):
    mac = "52:54:00:ab:cd:01"
    root.write_config(dict(sh(WAIT_FOR_STOP), network={
        "interfaces": [{"mac": mac, "addresses": ["10.77.0.2/24", "fd77::2/64"],
                        "gateway": "10.77.0.1", "gateway6": "fd77::1", "mtu": 1400,
                        "routes": [{"to": "192.168.50.0/24", "via": "10.77.0.254"},
                                   {"to": "10.99.0.0/16"}]}],
        "link_timeout_ms": 5000}))
    root.start()
    pid = root.init_pid()
    add_veth(pid, "guest0", mac)
    root.wait_for_output("ready")
    link = ns_ip(pid, "link", "show", "dev", "guest0")[0]
    assert link["mtu"] == 1400
    assert "UP" in link["flags"]
    addrs = {(a["local"], a["prefixlen"])
             for a in ns_ip(pid, "addr", "show", "dev", "guest0")[0]["addr_info"]}
    assert ("10.77.0.2", 24) in addrs
    assert ("fd77::2", 64) in addrs
    routes4 = ns_ip(pid, "route", "show")
    assert {"dst": "default", "gateway": "10.77.0.1"}.items() <= \
        next(r for r in routes4 if r["dst"] == "default").items()
    assert next(r for r in routes4 if r["dst"] == "192.168.50.0/24")["gateway"] == "10.77.0.254"
    assert next(r for r in routes4 if r["dst"] == "10.99.0.0/16")["scope"] == "link"
    routes6 = ns_ip(pid, "-6", "route", "show")
    assert next(r for r in routes6 if r["dst"] == "default")["gateway"] == "fd77::1"
    lo = ns_ip(pid, "link", "show", "dev", "lo")[0]
    assert "UP" in lo["flags"]
    result = stop(root)
    assert "configured interface guest0" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_kernel_ip_parameter(root):
    root.set_cmdline("ip=10.88.0.2::10.88.0.1:255.255.255.0:iphost:guest1:off:10.88.0.53")
    root.write_config(dict(sh("hostname; cat /etc/resolv.conf; " + WAIT_FOR_STOP),
                           network={"link_timeout_ms": 5000}))
    root.start()
    pid = root.init_pid()
    add_veth(pid, "guest1")
    root.wait_for_output("ready")
    addrs = {(a["local"], a["prefixlen"])
             for a in ns_ip(pid, "addr", "show", "dev", "guest1")[0]["addr_info"]}
    assert ("10.88.0.2", 24) in addrs
    default = next(r for r in ns_ip(pid, "route", "show") if r["dst"] == "default")
    assert default["gateway"] == "10.88.0.1"
    assert default["dev"] == "guest1"
    result = stop(root)
    assert "iphost" in result.lines
    assert "nameserver 10.88.0.53" in result.lines


def test_ip_dhcp_unsupported(root):
    root.set_cmdline("ip=dhcp")
    root.write_config(sh("true"))
    result = root.boot()
    assert "asks for dhcp, which ember does not support" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_malformed_ip_ignored(root):
    root.set_cmdline("ip=10.0.0.999::10.0.0.1")
    root.write_config(sh("true"))
    result = root.boot()
    assert "invalid client address '10.0.0.999' in ip=" in result.output, result.output
    assert "ip= is ignored" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_missing_interface_times_out(root):
    root.write_config(dict(sh("true"), network={
        "interfaces": [{"name": "absent0", "addresses": ["10.1.0.2/24"]}],
        "link_timeout_ms": 300}))
    result = root.boot()
    assert "interface absent0 did not appear within 300 ms" in result.output
    assert result.exit_line == "ember: exit status 0"


def test_hostname_hosts_and_resolv(root):
    root.write_config(dict(sh("hostname; cat /etc/hosts; cat /etc/resolv.conf"),
                           hostname="guest-box",
                           network={"dns": ["10.0.2.3", "fd00::3"],
                                    "search": ["example.internal", "corp"]}))
    result = root.boot()
    lines = result.lines
    assert "guest-box" in lines, result.output
    assert "127.0.1.1\tguest-box" in lines
    assert "127.0.0.1\tlocalhost" in lines
    assert "search example.internal corp" in lines
    assert "nameserver 10.0.2.3" in lines
    assert "nameserver fd00::3" in lines


def test_resolv_dangling_symlink(root):
    os.symlink("../run/systemd/resolve/stub-resolv.conf", root.join("etc/resolv.conf"))
    root.write_config(dict(sh("cat /etc/resolv.conf; readlink /etc/resolv.conf"),
                           network={"dns": ["10.0.2.3"]}))
    result = root.boot()
    assert "nameserver 10.0.2.3" in result.lines, result.output
    assert "../run/systemd/resolve/stub-resolv.conf" in result.lines
    assert "wrote /etc/../run/systemd/resolve/stub-resolv.conf" in result.output


def test_resolv_on_read_only_root(root):
    root.write("etc/resolv.conf", "nameserver 192.0.2.1\n")
    root.write_config(dict(sh("cat /etc/resolv.conf"), network={"dns": ["10.0.2.3"]}))
    subprocess.run(["mount", "-o", "remount,ro", root.path], check=True)
    result = root.boot()
    assert "nameserver 10.0.2.3" in result.lines, result.output
    assert "nameserver 192.0.2.1" not in result.lines
    assert "bind-mounted /run/ember/resolv.conf over /etc/resolv.conf" in result.output


def test_oversized_search_list_skipped(root):
    # The search line alone overruns the resolv.conf buffer, so init skips the
    # file with a warning and boots on.
    root.write_config(dict(sh("echo entrypoint-ran"),
                           network={"dns": ["10.0.2.3"], "search": ["a" * 2000000]}))
    result = root.boot()
    assert "entrypoint-ran" in result.lines, result.output
    assert "the DNS settings exceed 4096 bytes" in result.output
    assert result.exit_line == "ember: exit status 0"
