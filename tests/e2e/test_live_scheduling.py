"""Scheduled changes with real processes: server, Celery worker and beat (not eager mode)."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.live import LiveStack
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

STATE = "/api/v1/projects/demo/environments/development/flags/new-checkout/"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("schedvar")).running() as live:
        yield live


def schedule(api, change_type, seconds_ahead, payload=None):
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds_ahead)
    response = api.post(f"{STATE}scheduled-changes/", json={
        "scheduledAt": at.isoformat(), "changeType": change_type, "payload": payload or {}})
    assert response.status_code == 201, response.text
    return response.json(), at


def wait_status(api, change_id, status, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        change = api.get(f"{STATE}scheduled-changes/{change_id}/").json()
        if change["status"] == status:
            return change
        time.sleep(0.3)
    raise AssertionError(f"change {change_id} is still {change['status']}")


def test_missed_time__applied_when_worker_and_beat_start(stack, api):
    # Nothing runs yet: the change's time passes unnoticed.
    change, at = schedule(api, "disable", 1)
    time.sleep(3)
    assert api.get(f"{STATE}scheduled-changes/{change['id']}/").json()["status"] == "pending"
    stack.start_worker()
    applied = wait_status(api, change["id"], "applied", timeout=30)
    assert applied["latenessMs"] >= 2000
    assert api.get(STATE).json()["enabled"] is False


def test_on_time__arrives_on_the_sse_stream_within_2_seconds(stack, api):
    log = next(log for _, log in stack.processes if log.name == "celery.log")
    stack.wait_for_log(log, "ready.")
    stream = SSEReader(f"{stack.base_url}/api/v1/events/stream?flags=new-checkout",
                       {"Authorization": stack.credentials["keys"]["development"]["server"]})
    try:
        assert stream.wait_open() == 200
        change, at = schedule(api, "enable", 4)
        event = stream.next(timeout=15)
        arrived = datetime.now(timezone.utc)
        assert (event.event, event.json["flagKey"]) == ("flag_enabled", "new-checkout")
        lateness = (arrived - at).total_seconds()
        assert 0 <= lateness < 2, lateness
        applied = wait_status(api, change["id"], "applied")
        assert 0 <= applied["latenessMs"] < 2000
        audit = api.get("/api/v1/projects/demo/flags/new-checkout/audit/").json()["results"]
        assert audit[0]["source"] == "scheduler" and audit[0]["action"] == "flag_enabled"
    finally:
        stream.close()


def test_cancelled_before_its_time__never_applied(stack, api):
    before = api.get(STATE).json()["version"]
    change, _ = schedule(api, "set_default_variant", 2, {"variant": "false"})
    assert api.delete(f"{STATE}scheduled-changes/{change['id']}/").status_code == 204
    time.sleep(4)
    assert api.get(f"{STATE}scheduled-changes/{change['id']}/").json()["status"] == "cancelled"
    assert api.get(STATE).json()["version"] == before


def test_worker_console__idle_sweeps_silent_applied_ones_logged(stack, api):
    # issue 15, item 13: beat's one-second sweep printed three INFO lines a second
    log = next((log for _, log in stack.processes if log.name == "celery.log"), None) \
        or stack.start_worker()
    stack.wait_for_log(log, "ready.")
    change, _ = schedule(api, "disable", 2)
    wait_status(api, change["id"], "applied", timeout=30)
    stack.wait_for_log(log, "'applied': 1")  # the sweep that did something is reported
    text = log.read_text()
    assert "Sending due task apply-due-scheduled-changes" not in text
    idle_sweeps = [line for line in text.splitlines()
                   if "apply_due_scheduled_changes[" in line and line.endswith(": {}")]
    assert idle_sweeps == []
    assert "received" not in "".join(line for line in text.splitlines()
                                     if "apply_due_scheduled_changes[" in line)
