"""Fixtures shared by every pytest suite: where the build is, and a clean
temporary directory per test. Suites keep their own fixtures in their own
directory (tests/init/conftest.py, tests/agent/conftest.py, ...) and their
shared Python helpers under tests/lib/."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))


def build_dir():
    return os.path.join(ROOT, os.environ.get("EMBER_BUILD", "build"))


@pytest.fixture(scope="session")
def ember_bin():
    """Returns the path of a built binary by name, e.g. ember_bin("ember-init")."""

    def find(name):
        path = os.path.join(build_dir(), "bin", name)
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: run `make` first")
        return path

    return find
