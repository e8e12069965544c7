"""Runner: a mock Daytona runner inside the test process, with its test controls.

It wraps MockRunner.Runner (the GObject, reachable as `runner.gobject`). The server runs
on its own thread and main context, so the test can make blocking HTTP calls to
`runner.url`; nothing needs a GLib main loop in Python.
"""
import datetime
import json
import time

from ._gi import GLib, MockRunner
from .http import request as http_request
from .journal import Journal, Request

__all__ = ["Runner", "Sandbox"]

_TIMING_MODES = {
    "immediate": MockRunner.TimingMode.IMMEDIATE,
    "delay": MockRunner.TimingMode.DELAY,
    "manual": MockRunner.TimingMode.MANUAL,
}

_FAULT_ACTIONS = {
    MockRunner.FaultAction.ERROR: "error",
    MockRunner.FaultAction.DELAY: "delay",
    MockRunner.FaultAction.DROP: "drop",
}


def _state_name(state):
    return MockRunner.sandbox_state_to_string(state)


# What a handler given to Runner.connect() receives, per signal (the GObject is left out).
_CONVERTERS = {
    "request-served": lambda entry: (Request.from_entry(entry),),
    "sandbox-state-changed": lambda sandbox_id, old, new: (sandbox_id, _state_name(old), _state_name(new)),
    "image-added": lambda ref: (ref,),
    "image-removed": lambda ref: (ref,),
}


def _timing_mode(mode):
    if isinstance(mode, MockRunner.TimingMode):
        return mode
    try:
        return _TIMING_MODES[mode]
    except KeyError:
        raise ValueError(f"timing mode must be one of {sorted(_TIMING_MODES)}, not {mode!r}") from None


class Runner:
    """A mock runner in this process.

    token: the bearer token clients send (generated when None); port: 0 for an
    ephemeral port; seed: seeds the random source behind every generated id (None: not
    seeded); timing: "immediate", "manual" or ("delay", ms), the baseline reset()
    returns to; journal_size: requests kept; sandbox_backend, image_backend,
    toolbox_backend: plugin names; options: {NAME: value} of settings (the variables of
    docs/configuration.md, e.g. CACHE_RETENTION_DAYS, validated: GLib.Error when invalid)
    and plugin options (any other name).
    """

    def __init__(self, token=None, port=0, host="127.0.0.1", seed=None, timing=None, journal_size=None,
                 sandbox_backend=None, image_backend=None, toolbox_backend=None, options=None):
        self.gobject = MockRunner.Runner.new()
        props = self.gobject.props
        if token is not None:
            props.token = token
        props.port = port
        props.host = host
        if seed is not None:
            props.seed = int(seed)
        if timing is not None:
            mode, delay = (timing, 0) if isinstance(timing, str) else timing
            props.timing_mode = _timing_mode(mode)
            props.timing_delay = int(delay)
        if journal_size is not None:
            props.journal_size = int(journal_size)
        for name, value in (("sandbox_backend", sandbox_backend), ("image_backend", image_backend),
                            ("toolbox_backend", toolbox_backend)):
            if value is not None:
                setattr(props, name, value)
        for name, value in (options or {}).items():
            if value is None:
                self.gobject.set_option(name, None)
            else:
                self.gobject.configure(name, str(value).lower() if isinstance(value, bool) else str(value))
        self._errors = []
        self._handlers = []
        self.journal = Journal(self)

    # Lifecycle ------------------------------------------------------------------------

    def start(self):
        """Starts serving; returns the bound port. Raises GLib.Error (MockRunner.Error
        domain) if a plugin cannot load or the port is taken."""
        return self.gobject.start()

    def stop(self):
        self.gobject.stop()

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return self.gobject.props.url

    @property
    def token(self):
        return self.gobject.props.token

    @property
    def port(self):
        return self.gobject.props.port

    @property
    def running(self):
        return self.gobject.props.running

    def reset(self):
        """Back to the configured baseline: plugins' state, journal, fault rules, timing,
        the clock and (if seeded) the random source."""
        self.gobject.reset()

    # Seed -------------------------------------------------------------------------------

    @property
    def seed(self):
        seed = self.gobject.get_seed()
        return None if seed < 0 else seed

    @seed.setter
    def seed(self, value):
        self.gobject.set_seed(-1 if value is None else int(value))

    def random_uuid(self):
        return self.gobject.random_uuid()

    def random_hex(self, n_bytes):
        return self.gobject.random_hex(n_bytes)

    # Journal --------------------------------------------------------------------------

    def requests(self, method=None, path=None, sandbox_id=None):
        """The journal, oldest first, as Request records."""
        return [Request.from_entry(e) for e in self.gobject.get_requests(method, path, sandbox_id)]

    def clear_requests(self):
        self.gobject.clear_requests()

    # Signals --------------------------------------------------------------------------

    def connect(self, signal, handler):
        """Connects `handler` to a runner signal; returns the handler id.

        The handler runs on the runner's server thread (holding the GIL), before the
        reply the event belongs to is sent. It receives converted arguments:
        request-served: (Request); sandbox-state-changed: (sandbox_id, old, new) as
        the wire names ("creating"...); image-added / image-removed: (ref). An exception
        it raises is kept and re-raised by check() (the pytest fixtures call it at
        teardown), since raising on the server thread would go nowhere.
        """
        convert = _CONVERTERS.get(signal, lambda *args: args)
        errors = self._errors   # not self: the closure must not keep the Runner alive

        def callback(_gobject, *args):
            try:
                handler(*convert(*args))
            except BaseException as exc:  # noqa: B902 - everything is reported at check()
                errors.append(exc)

        handler_id = self.gobject.connect(signal, callback)
        self._handlers.append(handler_id)
        return handler_id

    def disconnect(self, handler_id):
        if handler_id in self._handlers:
            self._handlers.remove(handler_id)
            self.gobject.disconnect(handler_id)

    def disconnect_all(self):
        for handler_id in list(self._handlers):
            self.disconnect(handler_id)

    @property
    def handler_ids(self):
        return list(self._handlers)

    def clear_errors(self):
        """Forgets the exceptions handlers raised, without raising them."""
        del self._errors[:]

    def check(self):
        """Re-raises the first exception a signal handler raised since the last check
        (the others are attached as notes), and forgets them."""
        errors = self._errors[:]
        del self._errors[:]
        if not errors:
            return
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"also raised in a signal handler: {other!r}")
        raise first

    # Timing ---------------------------------------------------------------------------

    def set_timing(self, mode, delay_ms=0, sandbox_id=None):
        """When lifecycle transitions complete: "immediate", "delay" (each takes
        delay_ms) or "manual" (advance()); for one sandbox, or every sandbox without
        its own timing."""
        self.gobject.set_timing(sandbox_id, _timing_mode(mode), int(delay_ms))

    def unset_timing(self, sandbox_id):
        self.gobject.unset_timing(sandbox_id)

    def get_timing(self, sandbox_id=None):
        """(mode, delay_ms) that applies to sandbox_id (or the global timing)."""
        mode, delay = self.gobject.get_timing(sandbox_id)
        return MockRunner.timing_mode_to_string(mode), delay

    def advance(self, sandbox_id=None):
        """Completes the oldest waiting transition of sandbox_id (or one of every
        sandbox); returns how many completed."""
        return self.gobject.advance(sandbox_id)

    def pending_transitions(self, sandbox_id=None):
        return self.gobject.count_pending_transitions(sandbox_id)

    # Clock ----------------------------------------------------------------------------

    def advance_clock(self, seconds=0, *, minutes=0, hours=0, days=0):
        """Moves the runner's clock forward: what expires in the runner (the sandbox state
        cache of CACHE_RETENTION_DAYS, SSH access tokens) sees that time pass at once.
        `seconds` may be a number or a datetime.timedelta; the clock never goes back
        (reset() returns it to the real time). Returns the new offset (a timedelta).
        Lifecycle transitions in "delay" timing keep real timers: use advance()."""
        if isinstance(seconds, datetime.timedelta):
            seconds = seconds.total_seconds()
        total = float(seconds) + 60.0 * minutes + 3600.0 * hours + 86400.0 * days
        if not total >= 0:
            raise ValueError(f"the clock only goes forward, not by {total!r} s")
        self.gobject.advance_clock(round(total * 1_000_000))
        return self.clock_offset

    @property
    def clock_offset(self):
        """How far the runner's clock is ahead of the real time (a timedelta)."""
        return datetime.timedelta(microseconds=self.gobject.get_clock_offset())

    def now(self):
        """The runner's time: the real time plus the clock offset (an aware datetime, UTC)."""
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return epoch + datetime.timedelta(microseconds=self.gobject.get_real_time())

    # Faults ---------------------------------------------------------------------------

    def add_fault(self, method=None, path=None, sandbox_id=None, status=None, code=None, message=None,
                  delay_ms=None, drop=False, action=None, times=None, probability=None):
        """Adds a fault or latency rule; returns its id.

        Matches on method, path (glob or route pattern) and sandbox_id. Acts with an
        error (status, code, message), a delay (delay_ms alone), or a dropped connection
        (drop=True), at most `times` times, with `probability` (drawn from the seeded
        source). The first matching rule acts.
        """
        if action is None and drop:
            action = "drop"
        spec = {"action": action, "method": method, "path": path, "sandboxId": sandbox_id, "status": status,
                "code": code, "message": message, "delayMs": delay_ms, "times": times,
                "probability": probability}
        rule = MockRunner.FaultRule.new_from_json(json.dumps({k: v for k, v in spec.items() if v is not None}))
        return self.gobject.add_fault(rule)

    def remove_fault(self, fault_id):
        return self.gobject.remove_fault(fault_id)

    def clear_faults(self):
        self.gobject.clear_faults()

    def faults(self):
        """The rules, in order, as dicts with their hit counts."""
        return [{
            "id": r.get_id(),
            "action": _FAULT_ACTIONS[r.get_action()],
            "method": r.get_method(),
            "path": r.get_path(),
            "sandbox_id": r.get_sandbox_id(),
            "status": r.get_status(),
            "code": r.get_code(),
            "message": r.get_message(),
            "delay_ms": r.get_delay(),
            "times": r.get_times(),
            "probability": r.get_probability(),
            "hits": r.get_hits(),
        } for r in self.gobject.get_faults()]

    # State ----------------------------------------------------------------------------

    def export_state(self):
        """{"version": 1, "sandboxes": [...], "images": [...]}"""
        return json.loads(self.gobject.export_state())

    def import_state(self, state):
        """Replaces the sandboxes and images (all or nothing); takes a dict or JSON text."""
        self.gobject.import_state(state if isinstance(state, str) else json.dumps(state))

    # HTTP -----------------------------------------------------------------------------

    def request(self, method, path, json=None, body=None, headers=None, auth=True, timeout=30):
        """One HTTP request to the runner, with its token unless auth=False."""
        return http_request(self.url, method, path, json=json, body=body, headers=headers,
                            token=self.token if auth else None, timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_sandbox(self, sandbox_id, **fields):
        """POST /sandboxes with a valid body (fields override it); returns a Sandbox.
        Raises AssertionError if the runner does not answer 201."""
        dto = {"id": sandbox_id, "userId": "user-1", "snapshot": "ubuntu:22.04", "osUser": "daytona",
               "cpuQuota": 1, "gpuQuota": 0, "memoryQuota": 1, "storageQuota": 3}
        dto.update(fields)
        response = self.post("/sandboxes", json=dto)
        assert response.status == 201, f"creating sandbox {sandbox_id}: {response!r}"
        return Sandbox(self, sandbox_id)

    def sandbox_state(self, sandbox_id):
        """The state GET /sandboxes/{id} reports ("started"...)."""
        return self.get(f"/sandboxes/{sandbox_id}").json()["state"]

    def wait_for_state(self, sandbox_id, state, timeout=10.0):
        """Polls until the sandbox is in `state`; returns it, or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        current = self.sandbox_state(sandbox_id)
        while current != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox {sandbox_id} is {current!r}, not {state!r}, after {timeout} s")
            time.sleep(0.01)
            current = self.sandbox_state(sandbox_id)
        return current


GError = GLib.Error


class Sandbox:
    """A sandbox of a runner, driven over HTTP as the Daytona API would."""

    def __init__(self, runner, sandbox_id):
        self.runner = runner
        self.id = sandbox_id

    def __repr__(self):
        return f"<Sandbox {self.id}>"

    @property
    def state(self):
        return self.runner.sandbox_state(self.id)

    def start(self, metadata=None):
        return self.runner.post(f"/sandboxes/{self.id}/start", json=metadata or {})

    def stop(self):
        return self.runner.post(f"/sandboxes/{self.id}/stop", json={})

    def destroy(self):
        return self.runner.post(f"/sandboxes/{self.id}/destroy", json={})

    def wait_for_state(self, state, timeout=10.0):
        return self.runner.wait_for_state(self.id, state, timeout)

    def toolbox(self, method, path, **kw):
        """A request to the sandbox's toolbox, e.g. toolbox("GET", "/files?path=/")."""
        return self.runner.request(method, f"/sandboxes/{self.id}/toolbox{path}", **kw)
