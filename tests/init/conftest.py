"""Fixtures of the ember-init suite: a fresh test root per test."""
import pytest

from testroot import TestRoot


@pytest.fixture
def root(tmp_path, ember_bin):
    with TestRoot(tmp_path, ember_bin("ember-init")) as r:
        yield r
