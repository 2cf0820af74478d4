"""Fixtures of the freeze suite: one FreezeNs (tests/lib/freeze_ns.py) per
test, torn down even when the test fails."""
import os

import pytest

from freeze_ns import FreezeNs


@pytest.fixture
def ns(tmp_path, ember_bin):
    if os.geteuid() != 0:
        pytest.skip("the freeze suite needs root for loop devices and namespaces")
    freeze_ns = FreezeNs(tmp_path, ember_bin)
    try:
        yield freeze_ns
    finally:
        freeze_ns.close()
