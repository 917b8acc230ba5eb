"""SDK analytics against a real server on a real port, with a real Celery worker and beat
(issue 13): a batch sent twice with httpx (a retry after a lost answer) is stored once, a bad
one refused whole; beat's rollup counts it and the organization's company stream hears
``metric_updated``."""

from __future__ import annotations

import datetime
import json

import httpx
import pytest

from tests.live import LiveStack
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

COUNT = """
from analytics.models import CustomEvent, EvaluationEvent
from django.db.models import Sum
print(json.dumps([EvaluationEvent.objects.aggregate(n=Sum("count"))["n"] or 0,
                  CustomEvent.objects.count()]))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {"ANALYTICS_ROLLUP_SECONDS": "1", "ANALYTICS_ROLLUP_SETTLE_SECONDS": "0"}
    with LiveStack(tmp_path_factory.mktemp("analyticsvar"), extra_env=env).running() as live:
        live.worker_log = live.start_worker()
        live.wait_for_log(live.worker_log, "ready", timeout=60)
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


def test_rollup_by_beat__company_stream_hears_metric_updated(stack):
    key = stack.credentials["keys"]["production"]["server"]
    member = stack.bearer("admin", stack.credentials["password"])
    dashboard = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", member)
    try:
        assert dashboard.wait_open() == 200
        now = datetime.datetime.now(datetime.UTC).isoformat()
        answer = httpx.post(f"{stack.base_url}/api/sdk/events", headers={
            "Authorization": f"Bearer {key}", "X-Payload-Id": "beat-1"}, json={
            "evaluations": [{"flagKey": "button-color", "variant": "blue", "contextId": "u1",
                             "timestamp": now}] * 3})
        assert answer.status_code == 202
        update = dashboard.next_of("metric_updated", timeout=30)
        assert update.json["metricName"] == "flag_evaluations"
        assert update.json["value"] >= 3 and update.json["source"] == "analytics"
    finally:
        dashboard.close()
    counted = json.loads(stack.manage("shell", "-c", (
        "import json\nfrom analytics.models import EvaluationRollup, ContextCount\n"
        "mine = {'environment__key': 'production', 'variant': 'blue'}\n"
        "print(json.dumps([sum(EvaluationRollup.objects.filter(flag_key='button-color', "
        "**mine).values_list('evaluations', flat=True)), "
        "list(ContextCount.objects.filter(subject='button-color', span='h', **mine)"
        ".values_list('contexts', flat=True))]))")).strip().splitlines()[-1])
    assert counted == [3, [1]]
