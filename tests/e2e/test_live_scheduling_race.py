"""Two workers, each with its own beat, racing over the same due changes: each applied once."""

import time
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from tests.live import LiveStack

pytestmark = pytest.mark.live

FLAGS = "/api/v1/projects/demo/environments/development/flags"


@pytest.fixture
def stack(tmp_path):
    with LiveStack(tmp_path).running() as live:
        yield live


def test_two_workers_two_beats__every_change_applied_exactly_once(stack):
    with closing(stack.api_client()) as api:
        logs = [stack.start_worker(name=name) for name in ("worker1", "worker2")]
        for log in logs:
            stack.wait_for_log(log, "ready.")
        flags = ("new-checkout", "button-color")
        before = {flag: api.get(f"{FLAGS}/{flag}/").json() for flag in flags}
        at = (datetime.now(timezone.utc) + timedelta(seconds=6)).isoformat()
        ids = []
        for flag in flags:
            for turn in range(6):
                # Each one flips the flag: a real change, so one applied twice would show.
                on = before[flag]["enabled"] == (turn % 2 == 1)
                change = "enable" if on else "disable"
                response = api.post(f"{FLAGS}/{flag}/scheduled-changes/",
                                    json={"scheduledAt": at, "changeType": change})
                assert response.status_code == 201, response.text
                ids.append((flag, response.json()["id"]))

        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            statuses = {api.get(f"{FLAGS}/{flag}/scheduled-changes/{i}/").json()["status"]
                        for flag, i in ids}
            if statuses == {"applied"}:
                break
            time.sleep(0.5)
        assert statuses == {"applied"}, stack.logs()
        for flag in flags:
            state = api.get(f"{FLAGS}/{flag}/").json()
            # six changes, six versions: none applied twice, none lost
            assert state["version"] == before[flag]["version"] + 6
            assert state["enabled"] is before[flag]["enabled"]  # six flips, in their order
            audit = api.get(f"/api/v1/projects/demo/flags/{flag}/audit/").json()["results"]
            assert sum(1 for entry in audit if entry["source"] == "scheduler") == 6
