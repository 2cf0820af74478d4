"""The build produces static guest binaries."""
import os
import subprocess

import pytest


@pytest.mark.parametrize("name", ["ember-init", "ember-agent", "emberctl"])
def test_guest_binary_is_static(ember_bin, name):
    out = subprocess.run(["file", "-L", ember_bin(name)], capture_output=True, text=True,
                         check=True).stdout
    assert "statically linked" in out, out


def test_install_layout(tmp_path):
    """`make install` puts the guest binaries under share/ember/ARCH, the host
    tools in bin, and libember with a pkg-config file a client can build with."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dest = tmp_path / "dest"
    build = os.environ.get("EMBER_BUILD", "build")
    subprocess.run(["make", "-s", "install", f"OUT={build}", "PREFIX=/usr", f"DESTDIR={dest}"],
                   cwd=root, check=True, capture_output=True)
    usr = dest / "usr"
    for name in ("ember-init", "ember-agent"):
        out = subprocess.run(["file", str(usr / "share/ember/amd64" / name)],
                             capture_output=True, text=True, check=True).stdout
        assert "statically linked" in out and "stripped" in out, out
    for name in ("emberctl", "ember-rootfs"):
        assert os.access(usr / "bin" / name, os.X_OK), name
    assert (usr / "include/ember/ember.h").is_file()
    assert (usr / "lib/libember.a").is_file()
    pc = (usr / "lib/pkgconfig/libember.pc").read_text()
    assert "prefix=/usr" in pc
    assert not (usr / "sbin").exists()
