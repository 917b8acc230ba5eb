"""SDK analytics in (issue 13, item 1): POST /api/sdk/events and /api/sdk/track take what an
SDK sends, store it whole once per payload id, and refuse bad input naming the item and field,
storing nothing."""

import datetime
import json

import pytest
from django.utils import timezone

from analytics.models import CustomEvent, EvaluationEvent, IngestPayload

pytestmark = pytest.mark.django_db

NOW = "2026-11-23T12:00:00Z"


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    moment = datetime.datetime(2026, 11, 23, 12, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def post(client, key, body, path="/api/sdk/events", **headers):
    return client.post(path, json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}", **headers)


BATCH = {
    "payloadId": "p-1",
    "evaluations": [
        {"flagKey": "button-color", "variant": "green", "reason": "TARGETING_MATCH",
         "contextId": "u1", "value": "green", "timestamp": NOW},
        {"flagKey": "button-color", "variant": "red", "reason": "DEFAULT", "contextId": 42,
         "timestamp": 1795435200000},
        {"flagKey": "gone-flag", "variant": "on", "timestamp": NOW}],
    "summary": {"startDate": "2026-11-23T11:00:00Z", "endDate": "2026-11-23T11:01:00Z",
                "flags": {"new-checkout": {"on": 120, "off": 30}}},
    "events": [{"name": "checkout_completed", "contextId": "u1", "value": 59.9,
                "details": {"currency": "EUR"}, "timestamp": NOW}],
}


def stored():
    return (sorted((e.flag_key, e.variant, e.reason, e.context_id, e.count)
                   for e in EvaluationEvent.objects.all()),
            [(e.name, e.context_id, e.value, e.details) for e in CustomEvent.objects.all()])


def test_batch__stored_whole__202_with_what_was_accepted(client, keys, development):
    response = post(client, keys["server"], BATCH)
    assert response.status_code == 202, response.content
    assert response.json() == {"payloadId": "p-1", "duplicate": False, "accepted": {
        "evaluations": 3, "summaryCounts": 150, "events": 1}}
    evaluations, events = stored()
    assert evaluations == [
        ("button-color", "green", "TARGETING_MATCH", "u1", 1),
        ("button-color", "red", "DEFAULT", "42", 1),
        ("gone-flag", "on", "UNKNOWN", "", 1),  # an unknown flag key is kept, not refused
        ("new-checkout", "off", "SUMMARY", "", 30),
        ("new-checkout", "on", "SUMMARY", "", 120)]
    assert events == [("checkout_completed", "u1", 59.9, {"currency": "EUR"})]
    assert {e.environment_id for e in EvaluationEvent.objects.all()} == {development.pk}
    red = EvaluationEvent.objects.get(variant="red")
    assert red.timestamp == datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def test_same_payload_again__acknowledged_not_stored_twice(client, keys):
    assert post(client, keys["server"], BATCH).status_code == 202
    again = post(client, keys["server"], {**BATCH, "payloadId": None},
                 HTTP_X_PAYLOAD_ID="p-1")  # the header names the same batch
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert again.json()["accepted"] == {"evaluations": 3, "summaryCounts": 150, "events": 1}
    assert EvaluationEvent.objects.count() == 5 and CustomEvent.objects.count() == 1
    assert IngestPayload.objects.count() == 1


def test_same_payload_id_in_another_environment__its_own(client, keys, production):
    assert post(client, keys["server"], BATCH).status_code == 202
    other = post(client, keys["production"], BATCH)
    assert other.json()["duplicate"] is False
    assert EvaluationEvent.objects.filter(environment=production).count() == 5


def test_client_key__may_send(client, keys):
    assert post(client, keys["client"], BATCH).status_code == 202


def test_without_payload_id__stored_with_one_made__and_a_warning(client, keys):
    body = {key: value for key, value in BATCH.items() if key != "payloadId"}
    answer = post(client, keys["server"], body).json()
    assert len(answer["payloadId"]) == 32 and "payloadId" in answer["warning"]


@pytest.mark.parametrize("change, field", [
    (lambda b: b["evaluations"][1].pop("flagKey"), "evaluations[1].flagKey"),
    (lambda b: b["evaluations"][0].update(variant=3), "evaluations[0].variant"),
    (lambda b: b["evaluations"][0].update(reason="because"), "evaluations[0].reason"),
    (lambda b: b["evaluations"][2].update(flagKey="has space"), "evaluations[2].flagKey"),
    (lambda b: b["evaluations"][0].update(timestamp="yesterday"), "evaluations[0].timestamp"),
    (lambda b: b["evaluations"][0].update(timestamp="2026-11-01T00:00:00Z"),
     "evaluations[0].timestamp"),  # older than the 7 days kept
    (lambda b: b["evaluations"][0].update(timestamp="2026-11-24T12:00:00Z"),
     "evaluations[0].timestamp"),  # a day ahead
    (lambda b: b["evaluations"][0].update(colour="x"), "evaluations[0].colour"),
    (lambda b: b["evaluations"][0].update(count=0), "evaluations[0].count"),
    (lambda b: b["summary"]["flags"]["new-checkout"].update(on=0), "summary.flags.new-checkout.on"),
    (lambda b: b["summary"].update(endDate="2026-11-23T10:00:00Z"), "summary.endDate"),
    (lambda b: b["events"][0].update(value="59.9"), "events[0].value"),
    (lambda b: b["events"][0].update(details=[1]), "events[0].details"),
    (lambda b: b["events"][0].pop("name"), "events[0].name"),
    (lambda b: b.update(evaluations={}), "evaluations"),
    (lambda b: b.update(payloadId=""), "payloadId"),
    (lambda b: b.update(extra=1), "extra"),
])
def test_bad_item__400_naming_it__nothing_stored(client, keys, change, field):
    body = json.loads(json.dumps(BATCH))
    change(body)
    response = post(client, keys["server"], body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["fields"]) == [field]
    assert stored() == ([], []) and not IngestPayload.objects.exists()


def test_empty_or_not_an_object__400(client, keys):
    assert post(client, keys["server"], {}).json()["fields"] == {
        "body": ["has no evaluations, summaries or events"]}
    assert post(client, keys["server"], [1]).status_code == 400
    response = client.post("/api/sdk/events", b"{not json", content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {keys['server']}")
    assert (response.status_code, response.json()["error"]) == (400, "parse_error")


def test_limits__413__nothing_stored(client, keys, settings):
    settings.ANALYTICS_MAX_ITEMS = 3
    response = post(client, keys["server"], BATCH)  # 3 evaluations, 2 summary rows, 1 event
    assert (response.status_code, response.json()["error"]) == (413, "payload_too_large")
    settings.ANALYTICS_MAX_ITEMS = 10_000
    settings.ANALYTICS_MAX_BODY_BYTES = 200
    response = post(client, keys["server"], BATCH)
    assert (response.status_code, list(response.json()["fields"])) == (413, ["body"])
    assert stored() == ([], [])


@pytest.mark.parametrize("path", ["/api/sdk/events", "/api/sdk/track"])
def test_credentials__none_wrong_revoked__401_json(client, keys, path):
    body = BATCH if path.endswith("events") else {"name": "x"}
    assert client.post(path, json.dumps(body), content_type="application/json") \
        .json()["error"] == "not_authenticated"
    for key in ("srv-not-a-key", keys["revoked"]):
        response = post(client, key, body, path=path)
        assert response.status_code == 401 and response.json()["error"]
    assert stored() == ([], [])


def test_rate_limit__429_with_retry_after(client, keys, settings):
    from django.core.cache import cache

    cache.clear()  # the other tests' requests fell in the same (frozen) minute
    settings.ANALYTICS_RATE_LIMIT_PER_MINUTE = 2
    codes = [post(client, keys["server"], {**BATCH, "payloadId": f"r{n}"}).status_code
             for n in range(3)]
    assert codes == [202, 202, 429]
    response = post(client, keys["server"], {**BATCH, "payloadId": "r9"})
    assert int(response["Retry-After"]) >= 1 and response.json()["error"] == "rate_limited"


def test_track__one_event__timestamp_defaults_to_now(client, keys, fixed_now):
    response = post(client, keys["client"], {"name": "signup", "contextId": "u9", "value": 1},
                    path="/api/sdk/track", HTTP_X_PAYLOAD_ID="t-1")
    assert response.status_code == 202
    assert response.json()["accepted"] == {"evaluations": 0, "summaryCounts": 0, "events": 1}
    event = CustomEvent.objects.get()
    assert (event.name, event.context_id, event.value, event.timestamp) == (
        "signup", "u9", 1.0, fixed_now)
    again = post(client, keys["client"], {"name": "signup"}, path="/api/sdk/track",
                 HTTP_X_PAYLOAD_ID="t-1")
    assert again.json()["duplicate"] is True and CustomEvent.objects.count() == 1
    bad = post(client, keys["client"], {"name": "signup", "value": "1"}, path="/api/sdk/track")
    assert (bad.status_code, bad.json()["fields"]) == (400, {"value": ["must be a finite number"]})


def test_openapi__both_endpoints_documented(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    for path in ("/api/sdk/events", "/api/sdk/track"):
        assert set(paths[path]["post"]["responses"]) >= {"202", "400", "401", "413"}


@pytest.mark.parametrize("stamp", [[1], {"a": 1}, True, None, float("nan")])
def test_batch__a_timestamp_of_the_wrong_kind_after_good_ones__named(stamp):
    from analytics.ingest import BadItem, batch_read
    good = {"flagKey": "f", "variant": "on", "timestamp": timezone.now().isoformat()}
    with pytest.raises(BadItem) as refused:
        batch_read({"evaluations": [good, good, {**good, "timestamp": stamp}]})
    assert refused.value.field == "evaluations[2].timestamp"
