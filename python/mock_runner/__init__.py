"""mock_runner: a mock Daytona runner in the test process, through GObject Introspection.

    from mock_runner import Runner

    with Runner(seed=42) as runner:
        runner.create_sandbox("sb-1")
        runner.journal.assert_called_once("POST", "/sandboxes")

The pytest plugin (mock_runner.pytest_plugin) provides the fixtures mock_runner,
mock_runner_session, make_mock_runner, sandbox_factory and mock_journal; see
docs/python.md.
"""
from ._gi import GLib, MockRunner
from .http import Response
from .journal import Journal, Request
from .runner import Runner, Sandbox

GError = GLib.Error

__all__ = ["GError", "GLib", "Journal", "MockRunner", "Request", "Response", "Runner", "Sandbox"]
