"""Fixtures shared by every pytest suite: where the build is, and a clean
temporary directory per test. Suites keep their own fixtures in their own
directory (tests/init/conftest.py, tests/agent/conftest.py, ...) and their
shared Python helpers under tests/lib/."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import guest_build  # noqa: E402  (needs the sys.path entry above)


def build_dir():
    return os.path.join(ROOT, os.environ.get("EMBER_BUILD", "build"))


@pytest.fixture(scope="session")
def ember_bin():
    """Returns the path of a built binary by name, e.g. ember_bin("ember-init").
    Guest binaries come from EMBER_GUEST_BUILD when it is set; with
    EMBER_GUEST_RUNNER, the path is a script that runs them under it."""
    wrappers = {}

    def find(name):
        guest = guest_build.guest_build(ROOT) if name in guest_build.GUEST_BINARIES else None
        path = os.path.join(guest or build_dir(), "bin", name)
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: run `make` first")
        if guest and guest_build.guest_runner():
            if name not in wrappers:
                wrappers[name] = guest_build.write_wrapper(
                    path, os.path.join(guest, "tests", "runner"))
            return wrappers[name]
        return path

    return find
