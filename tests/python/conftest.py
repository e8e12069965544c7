import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mrtest import RunnerProcess  # noqa: E402


@pytest.fixture(scope="module")
def runner():
    """A standalone mock-runner shared by the tests of one module."""
    r = RunnerProcess()
    yield r
    r.stop()


@pytest.fixture
def make_runner():
    """Starts standalone runners with extra environment; stops them at teardown."""
    started = []

    def make(env=None, args=None, **kw):
        r = RunnerProcess(env=env, args=args, **kw)
        started.append(r)
        return r

    yield make
    failures = []
    for r in started:
        try:
            r.stop()
        except AssertionError as e:  # a sanitizer report: stop the others first
            failures.append(e)
    if failures:
        raise failures[0]
