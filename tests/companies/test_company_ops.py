"""Company streams for operators, in process (issue 12, items 2, 4 and 1's reset): how NATS
subjects become event types, the bridge's store (a redelivery is skipped, a failed batch
moves nothing), an id too old gets stream-reset, and who may read /stream/stats, /metrics
and /stream/health and what they say."""

import asyncio
import json

import pytest
from django.contrib.auth import get_user_model
from django_eventstream.models import Event

from companies.channels import company_channel
from companies.events import bridged_updates_store, event_type_for, subject_matches
from companies.models import BridgeMessage
from config.asgi import application
from streaming.presence import BRIDGE, SERVER, report_write
from tenancy.models import Membership, Organization
from tests.companies.test_company_stream import PATH, bearer
from tests.streaming.asgi_client import Stream
from tests.streaming.test_backbone import fast_backbone, run  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("pattern, subject, matches", [
    ("metrics.>", "metrics.calculated", True),
    ("metrics.>", "metrics.a.b", True),
    ("metrics.>", "metrics", False),
    ("journey.*", "journey.flag_updated", True),
    ("journey.*", "journey.a.b", False),
    ("q2q.*", "q2q", False),
    ("metrics.calculated", "metrics.calculated", True),
    ("metrics.calculated", "metrics.updated", False),
])
def test_subject_matches__nats_wildcards(pattern, subject, matches):
    assert subject_matches(pattern, subject) is matches


def test_event_types__default_mapping_and_configurable(settings):
    assert [event_type_for(s) for s in ("metrics.calculated", "metrics.updated",
                                        "metrics.deleted", "journey.flag_updated",
                                        "q2q.computed", "sroi.updated", "other.thing")] == [
        "metric_updated", "metric_updated", None, "journey_flag_updated", "vis_updated",
        "sroi_updated", None]
    settings.NATS_EVENT_TYPES = ["metrics.*=metric_changed", "audit.>=audit_event"]
    assert event_type_for("metrics.deleted") == "metric_changed"
    assert event_type_for("audit.user.login") == "audit_event"
    assert event_type_for("journey.flag_updated") is None


def _stored(organization) -> list[dict]:
    # Stored as django-eventstream stores them: the JSON text, JSON-encoded once more.
    stored = Event.objects.filter(channel=company_channel(organization.pk)).exclude(type="")
    return [json.loads(json.loads(e.data)) for e in stored.order_by("eid")]


def test_bridged_store__redelivered_in_any_order_skipped__failed_batch_stores_nothing(
        organization):
    def batch(*sequences):
        return [(seq, organization, "metric_updated", {"seq": seq}) for seq in sequences]

    assert bridged_updates_store("bridge-a", batch(1, 2, 3)) == 3
    assert bridged_updates_store("bridge-a", batch(7, 8)) == 2  # newer ones first …
    assert bridged_updates_store("bridge-a", batch(2, 4, 5, 6)) == 3  # … then 4-6, 2 again
    assert bridged_updates_store("bridge-a", batch(1, 5, 8)) == 0
    assert [d["seq"] for d in _stored(organization)] == [1, 2, 3, 7, 8, 4, 5, 6]
    assert all(d["companyId"] == organization.slug for d in _stored(organization))
    # A batch that cannot be stored stores none of it, and is taken whole when it comes again.
    broken = batch(9, 10) + [(11, organization, "metric_updated", {"bad": object()})]
    with pytest.raises(TypeError):
        bridged_updates_store("bridge-a", broken)
    assert not BridgeMessage.objects.filter(sequence__gte=9).exists()
    assert len(_stored(organization)) == 8
    assert bridged_updates_store("bridge-a", batch(9, 10, 11)) == 3
    # Each durable consumer has its own record.
    assert bridged_updates_store("bridge-b", batch(1)) == 1


def test_reset__id_older_than_kept__stream_reset_then_live(client, organization):
    member = get_user_model().objects.create_user("dash", password="pw")
    Membership.objects.create(user=member, organization=organization, role="viewer")
    channel = company_channel(organization.pk)
    assert bridged_updates_store("b", [(n, organization, "metric_updated", {"n": n})
                                       for n in (1, 2, 3)]) == 3
    first = Event.objects.filter(channel=channel).order_by("eid").first()
    Event.objects.filter(channel=channel, eid__lte=first.eid + 1).delete()  # trimmed

    async def scenario():
        stream = Stream(application, PATH,
                        f"companyId=acme&lastEventId={channel}:{first.eid - 1}", bearer(member))
        await stream.wait_for(lambda s: s.events("stream-reset"))
        await asyncio.to_thread(bridged_updates_store, "b",
                                [(4, organization, "metric_updated", {"n": 4})])
        await stream.wait_for(lambda s: s.events("metric_updated"))
        await stream.close()
        return stream

    stream = run(scenario())
    assert json.loads(stream.events("stream-reset")[0].data) == {"channels": [channel]}
    assert [json.loads(f.data)["n"] for f in stream.events("metric_updated")] == [4]


@pytest.fixture
def people(organization):
    users = get_user_model().objects
    staff = users.create_user("ops-staff", password="pw", is_staff=True)
    member = users.create_user("member", password="pw")
    Membership.objects.create(user=member, organization=organization, role="admin")
    return {"staff": staff, "member": member}


@pytest.mark.parametrize("path", ["/stream/stats", "/metrics"])
def test_ops_endpoints__staff_or_ops_token_only(client, people, settings, path):
    settings.STREAM_OPS_TOKEN = "ops-secret"
    for headers, status in (({}, 401), ({"HTTP_AUTHORIZATION": "Bearer wrong"}, 401),
                            ({"HTTP_AUTHORIZATION": "Bearer "}, 401),
                            ({"HTTP_AUTHORIZATION": "Bearer ops-secret"}, 200)):
        response = client.get(path, **headers)
        assert response.status_code == status, (headers, response.content)
        if status != 200:
            assert response.json()["error"] == "not_authenticated"
    client.force_login(people["member"])  # a member, even an organization admin, is no operator
    response = client.get(path)
    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
    client.force_login(people["staff"])
    assert client.get(path).status_code == 200
    settings.STREAM_OPS_TOKEN = ""  # no token configured: no token opens it
    client.logout()
    assert client.get(path, HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_stats__sums_every_server_process_and_the_bridge(client, people, organization):
    globex = Organization.objects.create(slug="globex", name="Globex")
    acme_channel, globex_channel = company_channel(organization.pk), company_channel(globex.pk)
    report_write("server:a", SERVER, {"kinds": {"company": 3, "sdk": 2},
                                      "channels": {acme_channel: 2, globex_channel: 1},
                                      "counters": {"company": {"delivered": 7}}})
    report_write("server:b", SERVER, {"kinds": {"company": 1},
                                      "channels": {acme_channel: 1}, "counters": {}})
    report_write("bridge:x", BRIDGE, {"connected": True, "lag": 4, "stored": 10})
    bridged_updates_store("b", [(1, organization, "metric_updated", {}),
                                (2, globex, "metric_updated", {}),
                                (3, globex, "metric_updated", {})])
    client.force_login(people["staff"])
    body = client.get("/stream/stats").json()
    assert body["connections"] == {"totalConnections": 4, "activeCompanies": 2,
                                   "connectionsByCompany": {"acme": 3, "globex": 1}}
    assert body["replayCache"] == {"companies": 2, "totalEvents": 3,
                                   "eventsByCompany": {"acme": 1, "globex": 2},
                                   "retentionHours": 24}
    assert body["bridge"]["running"] == 1 and body["bridge"]["lag"] == 4
    assert body["servers"] == {"processes": 2, "streamsByKind": {"company": 4, "sdk": 2}}
    assert body["timestamp"].endswith("Z")
    metrics = client.get("/metrics").content.decode()
    assert "flagstream_server_processes 2.0" in metrics
    assert 'flagstream_stream_connections{kind="company"} 4.0' in metrics
    assert "flagstream_bridge_lag_messages 4.0" in metrics


def test_health__public__503_naming_the_missing_bridge(client, settings, organization):
    body = client.get("/stream/health").json()
    assert body["status"] == "ok"
    assert body["streaming"]["enabled"] is True and body["streaming"]["activeConnections"] == 0
    settings.NATS_URL = "nats://127.0.0.1:4222"  # a bridge is expected and none reports
    response = client.get("/stream/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "nats_bridge" in response.json()["reasons"][0]
    report_write("bridge:x", BRIDGE, {"connected": False, "lastError": "connection refused"})
    reasons = client.get("/stream/health").json()["reasons"]
    assert reasons == ["bridge: not connected to NATS (connection refused)"]
    report_write("bridge:x", BRIDGE, {"connected": True, "lag": 0})
    assert client.get("/stream/health").status_code == 200


@pytest.mark.parametrize("reply", [
    "$JS.ACK.FLAGSTREAM_UPDATES.flagstream-bridge.1.4021.3977.1795450000123456789.12",
    "$JS.ACK._.ACCOUNTHASH.FLAGSTREAM_UPDATES.flagstream-bridge.2.77.70."
    "1795450000123456789.0.a1b2c3",
])
def test_stream_sequence__read_from_the_reply_as_nats_py_reads_it(reply):
    from nats.aio.msg import Msg

    from companies.bridge import stream_sequence

    message = Msg(None, subject="metrics.calculated", reply=reply, data=b"{}")
    assert stream_sequence(message) == message.metadata.sequence.stream
