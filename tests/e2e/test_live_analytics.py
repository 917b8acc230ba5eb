"""SDK analytics in, against a real server on a real port (issue 13, item 1): a batch sent
twice with httpx (a retry after a lost answer) is stored once; a bad one is refused whole."""

from __future__ import annotations

import datetime
import json

import httpx
import pytest

from tests.live import LiveStack

pytestmark = pytest.mark.live

COUNT = """
from analytics.models import CustomEvent, EvaluationEvent
from django.db.models import Sum
print(json.dumps([EvaluationEvent.objects.aggregate(n=Sum("count"))["n"] or 0,
                  CustomEvent.objects.count()]))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("analyticsvar")).running() as live:
        yield live


def stored(stack) -> list:
    return json.loads(stack.manage("shell", "-c", "import json\n" + COUNT).strip()
                      .splitlines()[-1])


def test_batch_retried__counted_once__bad_batch_refused_whole(stack):
    key = stack.credentials["keys"]["development"]["client"]
    now = datetime.datetime.now(datetime.UTC).isoformat()
    batch = {"evaluations": [{"flagKey": "new-checkout", "variant": "on",
                              "reason": "TARGETING_MATCH", "contextId": f"u{n}",
                              "timestamp": now} for n in range(200)],
             "summary": {"startDate": now, "endDate": now,
                         "flags": {"button-color": {"red": 70, "blue": 30}}},
             "events": [{"name": "checkout_completed", "contextId": "u1", "value": 12.5,
                         "timestamp": now}]}
    with httpx.Client(base_url=stack.base_url, timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as sdk:
        first = sdk.post("/api/sdk/events", json=batch, headers={"X-Payload-Id": "b-1"})
        retry = sdk.post("/api/sdk/events", json=batch, headers={"X-Payload-Id": "b-1"})
        assert (first.status_code, first.json()["duplicate"]) == (202, False)
        assert (retry.status_code, retry.json()["duplicate"]) == (202, True)
        assert stored(stack) == [300, 1]
        batch["evaluations"][150]["timestamp"] = "last week"
        bad = sdk.post("/api/sdk/events", json=batch, headers={"X-Payload-Id": "b-2"})
        assert bad.status_code == 400
        assert bad.json()["fields"] == {"evaluations[150].timestamp": [
            "must be ISO 8601 (2026-11-23T12:00:00Z) or milliseconds"]}
        track = sdk.post("/api/sdk/track", json={"name": "signup", "contextId": "u7"})
        assert track.status_code == 202
    assert stored(stack) == [300, 2]
