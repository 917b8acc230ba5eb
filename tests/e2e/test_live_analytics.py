"""SDK analytics against a real server on a real port, with a real Celery worker and beat
(issue 13): a batch sent twice with httpx (a retry after a lost answer) is stored once, a bad
one refused whole; beat's rollup counts it and the organization's company stream hears
``metric_updated``."""

from __future__ import annotations

import contextlib
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


def evaluations_when_counted(api, flag: str, environment: str, total: int,
                             timeout: float = 30) -> dict:
    """The flag's series once beat's rollup has counted ``total`` evaluations (or as it is)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/projects/demo/analytics/flags/{flag}/evaluations",
                       params={"environment": environment}).json()
        if sum(body.get("totals", {}).values()) >= total or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_python_sdk__evaluates_flushes__a_lost_answer_retried__dashboard_exact(stack):
    from flagstream import FlagstreamClient

    key = stack.credentials["keys"]["production"]["server"]
    client = FlagstreamClient(key, base_url=stack.base_url, flush_interval=3600)
    try:
        assert client.wait_until_ready(10)
        for user in ("ann", "bob", "cy"):
            for _ in range(2):
                client.get_boolean("new-checkout", {"targetingKey": user})
        client.track("checkout_completed", {"targetingKey": "ann"}, value=20.0)
        real_post, answers = client.analytics._post, []

        def answer_lost_once(body, payload_id):
            answers.append(real_post(body, payload_id))  # the server stores it …
            if len(answers) == 1:
                raise httpx.ReadTimeout("… and the answer is lost on the way back")
            return answers[-1]

        client.analytics._post = answer_lost_once
        assert client.flush() is False  # kept
        assert client.flush() is True  # sent again with the same id
        assert answers == [202, 202]
    finally:
        client.close()
    with contextlib.closing(stack.api_client()) as api:
        body = evaluations_when_counted(api, "new-checkout", "production", 6)
    assert sum(body["totals"].values()) == 6  # not 12
    assert sum(point["contexts"] for points in body["variants"].values()
               for point in points) == 3


def test_openfeature_hook__ofrep_evaluations_counted(stack):
    from openfeature import api as openfeature
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext

    from flagstream.openfeature import AnalyticsHook

    with contextlib.closing(stack.api_client()) as api:
        assert api.post("/api/v1/projects/demo/flags/", json={
            "key": "hook-flag"}).status_code == 201
        assert api.patch("/api/v1/projects/demo/environments/development/flags/hook-flag/",
                         json={"enabled": True}).status_code == 200
    key = stack.credentials["keys"]["development"]["server"]
    hook = AnalyticsHook(key, base_url=stack.base_url, flush_interval=3600)
    openfeature.set_provider(OFREPProvider(stack.base_url,
                                           headers_factory=lambda: {"X-API-Key": key}))
    openfeature.add_hooks([hook])
    try:
        client = openfeature.get_client()
        for user in ("u1", "u2", "u1", "u2", "u3"):
            client.get_boolean_value("hook-flag", False, EvaluationContext(user))
        hook.track("signup", EvaluationContext("u3"), value=1)
    finally:
        openfeature.clear_hooks()
        hook.close()  # the last flush
    with contextlib.closing(stack.api_client()) as api:
        body = evaluations_when_counted(api, "hook-flag", "development", 5)
    assert body["totals"] == {"true": 5}  # the variant OFREP reports for a boolean flag
    assert [point["contexts"] for point in body["variants"]["true"]] == [3]


def test_live_analytics_page__chart_in_chromium__updates_when_a_rollup_lands(stack, tmp_path):
    from tests.browser import Browser, chromium_available

    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    key = stack.credentials["keys"]["development"]["server"]

    def send(users, payload, hours_back=(0,)):
        now = datetime.datetime.now(datetime.UTC)
        response = httpx.post(f"{stack.base_url}/api/sdk/events", headers={
            "Authorization": f"Bearer {key}", "X-Payload-Id": payload}, json={"evaluations": [
                {"flagKey": "button-color", "variant": variant, "contextId": user,
                 "timestamp": (now - datetime.timedelta(hours=back)).isoformat()}
                for n, user in enumerate(users) for variant in ("green", "red")[:1 + (n == 0)]
                for back in hours_back]})  # every user green, the first red too: two lines
        assert response.status_code == 202

    send(["p1", "p2"], "page-1", hours_back=(0, 1, 2))  # three hours: a line to draw
    flag_pk = int(stack.manage("shell", "-c", "from flags.models import Flag; print(Flag.objects"
                               ".get(key='button-color').pk)").strip().splitlines()[-1])
    browser = Browser(tmp_path / "chromium")

    async def scenario(page):
        await page.admin_login(stack.base_url, stack.credentials["password"])
        await page.load(f"{stack.base_url}/live/analytics/?environment=development"
                        "&flag=button-color", "!!window.analytics")
        await page.wait_for("analytics.status() === 'live'")
        await page.wait_for("analytics.series && analytics.series.totals.green >= 6", 30)
        loads = await page.eval("analytics.loads")
        drawn = await page.eval("""(() => {  // pixels of the first series' colour on the chart
            const canvas = document.querySelector('#chart canvas');
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width,
                                                                canvas.height).data;
            let n = 0;  // near #3366cc (antialiased edges differ a little)
            for (let i = 0; i < pixels.length; i += 4)
              if (Math.abs(pixels[i] - 0x33) < 30 && Math.abs(pixels[i + 1] - 0x66) < 30
                  && Math.abs(pixels[i + 2] - 0xcc) < 30 && pixels[i + 3] > 200) n++;
            return n; })()""")
        await page.screenshot(tmp_path / "live-analytics.png")
        assert drawn > 100, f"the chart has no line ({drawn} pixels of its colour)"
        rows = await page.eval("[...document.querySelectorAll('tr.flag')].map(tr => "
                               "tr.dataset.flag)")
        assert "button-color" in rows
        # More evaluations: beat rolls them up, the company stream says so, the page reads again.
        send(["p3"], "page-2")
        await page.wait_for(f"analytics.loads > {loads} && analytics.series.totals.green >= 7",
                            30)
        # The flag's admin page charts it too (development first).
        await page.load(f"{stack.base_url}/admin/flags/flag/{flag_pk}/change/",
                        "!!document.querySelector('.flag-analytics')")
        await page.wait_for("!!document.querySelector('.flag-analytics-chart canvas')", 20)
        assert int(await page.eval(
            "document.querySelector('.flag-analytics-chart').dataset.evaluations")) >= 7

    try:
        browser.run(scenario)
    finally:
        browser.close()
    shot = tmp_path / "live-analytics.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_asgi_ingest__credentials_limits_and_many_singles_at_once(stack):
    """The running server serves the SDK analytics endpoints from ASGI with group commit: the
    same answers as the views for bad credentials and bodies, and 200 single events sent at
    once are each stored once and acknowledged after their commit."""
    import asyncio
    import time

    client_key = stack.credentials["keys"]["development"]["client"]
    server_key = stack.credentials["keys"]["development"]["server"]
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        token = http.post("/api/auth/token", json={
            "username": "admin", "password": stack.credentials["password"]}).json()["access"]
        admin = {"Authorization": f"Bearer {token}"}
        created = http.post("/api/v1/projects/demo/environments/development/keys/",
                            json={"kind": "client"}, headers=admin).json()
        one = {"name": "signup", "contextId": "u1"}
        for headers, params, status, code in (
                ({}, {}, 401, "not_authenticated"),
                ({"Authorization": "Bearer cli-wrong"}, {}, 401, "invalid_key"),
                ({}, {"sdkKey": server_key}, 401, "key_in_url")):
            answer = http.post("/api/sdk/track", json=one, headers=headers, params=params)
            assert (answer.status_code, answer.json()["error"]) == (status, code)
        fresh = {"Authorization": f"Bearer {created['key']}"}
        assert http.post("/api/sdk/track", json=one, headers=fresh).status_code == 202
        http.post(f"/api/v1/projects/demo/environments/development/keys/{created['id']}/revoke/",
                  headers=admin).raise_for_status()
        time.sleep(1.2)  # a key read is remembered for a second, as for SDK streams
        revoked = http.post("/api/sdk/track", json=one, headers=fresh)
        assert (revoked.status_code, revoked.json()["error"]) == (401, "invalid_key")
        sdk = {"Authorization": f"Bearer {client_key}"}
        assert http.get("/api/sdk/events", headers=sdk).status_code == 405
        bad = http.post("/api/sdk/track", json={"name": "bad name!"}, headers=sdk)
        assert (bad.status_code, list(bad.json()["fields"])) == (400, ["name"])
        not_json = http.post("/api/sdk/events", content=b"{", headers=sdk)
        assert not_json.status_code == 400
        huge = http.post("/api/sdk/events", content=b"x" * (6 * 1024 * 1024), headers=sdk)
        assert huge.status_code == 413
    before = stored(stack)

    async def many():
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30, headers={
                "Authorization": f"Bearer {client_key}"}) as sdk:
            sends = [sdk.post("/api/sdk/track", json={"name": "clicked", "contextId": f"u{n}"},
                              headers={"X-Payload-Id": f"single-{n}"}) for n in range(200)]
            answers = await asyncio.gather(*sends)
            again = await sdk.post("/api/sdk/track", json={"name": "clicked"},
                                   headers={"X-Payload-Id": "single-7"})
            return answers, again

    answers, again = asyncio.run(many())
    assert [a.status_code for a in answers] == [202] * 200
    assert not any(a.json()["duplicate"] for a in answers)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    assert stored(stack) == [before[0], before[1] + 200]
