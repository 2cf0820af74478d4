"""The build produces static guest binaries."""
import subprocess

import pytest


@pytest.mark.parametrize("name", ["ember-init", "ember-agent", "emberctl"])
def test_guest_binary_is_static(ember_bin, name):
    out = subprocess.run(["file", "-L", ember_bin(name)], capture_output=True, text=True,
                         check=True).stdout
    assert "statically linked" in out, out
