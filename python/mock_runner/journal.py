"""The request journal as Python sees it: Request records and assertion helpers."""
import dataclasses
import datetime

__all__ = ["Request", "Journal"]


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the runner recorded (see MockRunner.JournalEntry).

    status is 0 while the reply is not decided, or when none was sent (the client went
    away, or a fault dropped the connection). duration is in seconds, None until the
    request completed. Header names are lower case; credentials are redacted.
    """

    sequence: int
    time: datetime.datetime
    method: str
    path: str
    query: str
    headers: dict
    body_size: int
    sandbox_id: str
    route: str
    fault: str
    status: int
    completed: bool
    duration: float

    @classmethod
    def from_entry(cls, entry):
        micros = entry.get_time()
        duration = entry.get_duration()
        return cls(
            sequence=entry.get_sequence(),
            time=datetime.datetime.fromtimestamp(micros / 1e6, tz=datetime.timezone.utc),
            method=entry.get_method(),
            path=entry.get_path(),
            query=entry.get_query(),
            headers=dict(entry.get_headers()),
            body_size=entry.get_body_size(),
            sandbox_id=entry.get_sandbox_id(),
            route=entry.get_route(),
            fault=entry.get_fault(),
            status=entry.get_status(),
            completed=entry.get_completed(),
            duration=None if duration < 0 else duration / 1e6,
        )

    def __str__(self):
        query = f"?{self.query}" if self.query else ""
        return f"#{self.sequence} {self.method} {self.path}{query} -> {self.status or 'no reply'}"


def _describe(method, path, sandbox_id, status):
    parts = [method or "*", path or "*"]
    if sandbox_id:
        parts.append(f"sandbox={sandbox_id}")
    if status is not None:
        parts.append(f"status={status}")
    return " ".join(parts)


class Journal:
    """Queries and assertions over a runner's request journal.

    method matches in any case; path is a glob ('*' spans '/') or a route pattern such
    as "/sandboxes/{id}/start"; sandbox_id is exact. The runner answers on its own
    thread, so a request whose response the test received is always there.
    """

    def __init__(self, runner):
        self._runner = runner

    def requests(self, method=None, path=None, sandbox_id=None, status=None):
        found = self._runner.requests(method=method, path=path, sandbox_id=sandbox_id)
        if status is not None:
            found = [r for r in found if r.status == status]
        return found

    def count(self, method=None, path=None, sandbox_id=None, status=None):
        return len(self.requests(method, path, sandbox_id, status))

    def last(self, method=None, path=None, sandbox_id=None, status=None):
        found = self.requests(method, path, sandbox_id, status)
        return found[-1] if found else None

    def clear(self):
        self._runner.clear_requests()

    def _listing(self):
        everything = self._runner.requests()
        if not everything:
            return "the journal is empty"
        return "the journal holds:\n" + "\n".join(f"  {r}" for r in everything[-30:])

    def assert_called(self, method=None, path=None, sandbox_id=None, status=None, times=None):
        """Asserts that matching requests were made (exactly `times` of them if given).

        Returns the matching requests."""
        found = self.requests(method, path, sandbox_id, status)
        what = _describe(method, path, sandbox_id, status)
        if times is None:
            assert found, f"no request matched {what}; {self._listing()}"
        else:
            assert len(found) == times, (
                f"{len(found)} requests matched {what}, expected {times}; {self._listing()}")
        return found

    def assert_called_once(self, method=None, path=None, sandbox_id=None, status=None):
        return self.assert_called(method, path, sandbox_id, status, times=1)[0]

    def assert_not_called(self, method=None, path=None, sandbox_id=None, status=None):
        found = self.requests(method, path, sandbox_id, status)
        what = _describe(method, path, sandbox_id, status)
        assert not found, f"{len(found)} requests matched {what}, expected none: " + ", ".join(map(str, found))

    def assert_sequence(self, *expected):
        """Asserts that requests matching (method, path) pairs were made in this order
        (other requests may come between them)."""
        everything = self._runner.requests()
        position = 0
        for method, path in expected:
            wanted = {r.sequence for r in self._runner.requests(method=method, path=path)}
            while position < len(everything) and everything[position].sequence not in wanted:
                position += 1
            assert position < len(everything), (
                f"no {method} {path} after the previous expected request; {self._listing()}")
            position += 1
