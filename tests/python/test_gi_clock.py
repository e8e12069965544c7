"""The runner's clock from Python: Runner.advance_clock() makes days pass at once for what
expires in the runner (the sandbox state cache of CACHE_RETENTION_DAYS, SSH access tokens),
and the per-test fixture starts from the real time."""
import datetime
import threading

import pytest
from gi.repository import GLib, MockRunner

from mock_runner import Runner


def test_expiry_after_seven_days_by_default(mock_runner, sandbox_factory):
    old = sandbox_factory("clk-old")
    young = sandbox_factory("clk-young")
    assert mock_runner.advance_clock(days=6) == datetime.timedelta(days=6)
    assert young.state == "started"           # the read refreshes it
    mock_runner.advance_clock(datetime.timedelta(days=1))
    assert old.state == "unknown"             # 7 days since its create
    assert young.state == "started"           # a day since its read


def test_no_expiry_without_advancing(mock_runner, sandbox_factory):
    """The fixture reset the clock, whatever the previous test advanced."""
    assert mock_runner.clock_offset == datetime.timedelta(0)
    sandbox = sandbox_factory("clk-still")
    for _ in range(3):
        assert sandbox.state == "started"


def test_refresh_on_read(mock_runner, sandbox_factory):
    sandbox = sandbox_factory("clk-polled")
    for _ in range(3):
        mock_runner.advance_clock(days=5)
        assert sandbox.state == "started"     # 15 days in all, never 7 without a read
    mock_runner.advance_clock(days=7, seconds=1)
    assert sandbox.state == "unknown"
    assert sandbox.start().status == 200
    assert sandbox.state == "started"


def test_retention_days_setting():
    """CACHE_RETENTION_DAYS=2, given among the options: a day keeps the entry."""
    runner = Runner(options={"CACHE_RETENTION_DAYS": 2})
    with runner:
        runner.create_sandbox("ret-1")
        runner.create_sandbox("ret-2")
        runner.advance_clock(days=1)
        assert runner.sandbox_state("ret-1") == "started"
        runner.advance_clock(days=1)
        assert runner.sandbox_state("ret-1") == "started"
        assert runner.sandbox_state("ret-2") == "unknown"


def test_invalid_setting_among_the_options_is_refused():
    with pytest.raises(GLib.Error, match="CACHE_RETENTION_DAYS"):
        Runner(options={"CACHE_RETENTION_DAYS": "a week"})


def test_now_and_offset(mock_runner):
    real = datetime.datetime.now(datetime.timezone.utc)
    assert abs((mock_runner.now() - real).total_seconds()) < 2
    mock_runner.advance_clock(hours=2, minutes=30)
    assert mock_runner.clock_offset == datetime.timedelta(hours=2, minutes=30)
    assert abs((mock_runner.now() - real).total_seconds() - 9000) < 2
    # the same over /_mock/clock
    body = mock_runner.get("/_mock/clock").json()
    assert body["offsetSeconds"] == 9000
    mock_runner.post("/_mock/clock", json={"advanceSeconds": 0.5})
    assert mock_runner.clock_offset == datetime.timedelta(hours=2, minutes=30, milliseconds=500)


def test_never_back(mock_runner):
    mock_runner.advance_clock(60)
    with pytest.raises(ValueError):
        mock_runner.advance_clock(-1)
    with pytest.raises(ValueError):
        mock_runner.advance_clock(datetime.timedelta(seconds=-5))
    # the GI method refuses too, with the runner's error domain
    with pytest.raises(GLib.Error) as info:
        mock_runner.gobject.advance_clock(-1)
    assert info.value.matches(MockRunner.error_quark(), MockRunner.Error.INVALID_ARGUMENT)
    with pytest.raises(GLib.Error):
        mock_runner.advance_clock(days=365 * 200)
    assert mock_runner.clock_offset == datetime.timedelta(seconds=60)


def test_reset_restores_the_real_time(mock_runner, sandbox_factory):
    mock_runner.advance_clock(days=30)
    mock_runner.reset()
    assert mock_runner.clock_offset == datetime.timedelta(0)
    sandbox_factory("clk-after-reset")
    assert mock_runner.sandbox_state("clk-after-reset") == "started"


def test_ssh_access_token_expiry(mock_runner, sandbox_factory):
    sandbox_factory("clk-ssh")
    access = mock_runner.post("/sandboxes/clk-ssh/ssh-access?expiresInMinutes=30").json()
    expires = datetime.datetime.fromisoformat(access["expiresAt"].replace("Z", "+00:00"))
    assert abs((expires - mock_runner.now()).total_seconds() - 1800) < 2
    validate = f"/sandboxes/ssh-access/validate?token={access['token']}"
    mock_runner.advance_clock(minutes=29)
    assert mock_runner.get(validate).json() == {"valid": True, "sandboxId": "clk-ssh"}
    mock_runner.advance_clock(minutes=2)
    assert mock_runner.get(validate).json() == {"valid": False, "sandboxId": None}


def test_state_timestamps_follow_the_clock(mock_runner, sandbox_factory):
    mock_runner.advance_clock(days=3)
    sandbox_factory("clk-ts")
    exported = {s["id"]: s for s in mock_runner.export_state()["sandboxes"]}
    created = exported["clk-ts"]["createdAt"] / 1e6
    assert abs(created - mock_runner.now().timestamp()) < 2


def test_two_runners_have_their_own_clocks(make_mock_runner):
    a, b = make_mock_runner(), make_mock_runner()
    a.create_sandbox("two-a")
    b.create_sandbox("two-b")
    a.advance_clock(days=8)
    assert b.clock_offset == datetime.timedelta(0)
    assert a.sandbox_state("two-a") == "unknown"
    assert b.sandbox_state("two-b") == "started"


def test_advance_from_several_threads(mock_runner):
    """advance_clock() is safe from any thread: no step is lost."""
    def work():
        for _ in range(200):
            mock_runner.advance_clock(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mock_runner.clock_offset == datetime.timedelta(seconds=800)
