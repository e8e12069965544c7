"""pytest fixtures for mock_runner.

Installed, the plugin loads by itself (entry point "pytest11"). From a source tree, load
it with `-p mock_runner.pytest_plugin` or `pytest_plugins = ["mock_runner.pytest_plugin"]`
in the root conftest.py.

Fixtures:
  mock_runner_options  session  keyword arguments of the session runner (override it)
  mock_runner_session  session  one started Runner for the whole session
  mock_runner          function the session runner, reset first; handler errors re-raised
  make_mock_runner     function starts dedicated runners (own options), stopped at teardown
  sandbox_factory      function creates sandboxes, destroys them at teardown
  mock_journal         function the request journal of mock_runner, with assertions
"""
import itertools
import os

import pytest

from .runner import Runner


def _seed_from_environment():
    seed = os.environ.get("MOCK_RUNNER_SEED")
    return int(seed) if seed not in (None, "") else None


@pytest.fixture(scope="session")
def mock_runner_options():
    """Keyword arguments for the session runner (see mock_runner.Runner). Override this
    fixture in a conftest.py to choose plugins, options, timing or a seed. By default
    the seed comes from MOCK_RUNNER_SEED, if set."""
    seed = _seed_from_environment()
    return {} if seed is None else {"seed": seed}


@pytest.fixture(scope="session")
def mock_runner_session(mock_runner_options):
    """One runner for the session, started on an ephemeral port."""
    runner = Runner(**mock_runner_options)
    runner.start()
    yield runner
    runner.disconnect_all()
    runner.stop()


def _finish(runner, handlers_before):
    for handler_id in runner.handler_ids:
        if handler_id not in handlers_before:
            runner.disconnect(handler_id)
    runner.check()


@pytest.fixture
def mock_runner(mock_runner_session):
    """The session runner, reset to its baseline before the test (sandboxes, images,
    journal, fault rules, timing, seed). Handlers the test connected are disconnected
    at teardown, and the first exception one of them raised is re-raised there."""
    runner = mock_runner_session
    runner.reset()
    runner.clear_errors()
    before = set(runner.handler_ids)
    yield runner
    _finish(runner, before)


@pytest.fixture
def make_mock_runner():
    """make_mock_runner(**options) -> a started Runner of its own (other plugins,
    options, timing...), stopped at teardown, where its handler errors are re-raised."""
    started = []

    def make(**options):
        runner = Runner(**options)
        runner.start()
        started.append(runner)
        return runner

    yield make
    errors = []
    for runner in started:
        runner.disconnect_all()
        runner.stop()
        try:
            runner.check()
        except BaseException as exc:  # noqa: B902 - re-raised below, after every runner stopped
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def sandbox_factory(mock_runner):
    """sandbox_factory(sandbox_id=None, **fields) -> Sandbox: creates a sandbox through
    POST /sandboxes (ids "sandbox-1", "sandbox-2"... unless given) and destroys it at
    teardown."""
    created = []
    numbers = itertools.count(1)

    def create(sandbox_id=None, **fields):
        sandbox = mock_runner.create_sandbox(sandbox_id or f"sandbox-{next(numbers)}", **fields)
        created.append(sandbox)
        return sandbox

    yield create
    for sandbox in created:
        try:
            sandbox.destroy()
        except OSError:
            pass  # a fault rule of the test may drop it; the next reset clears it anyway


@pytest.fixture
def mock_journal(mock_runner):
    """The journal of mock_runner: requests(), count(), last(), assert_called(),
    assert_called_once(), assert_not_called(), assert_sequence(), clear()."""
    return mock_runner.journal
