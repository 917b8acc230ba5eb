"""GET /api/realtime/stream in process: who may open it, what it carries, ?conversationId=
(issue 10, item 6). The backbone's own tests run it through replay, reset and revocation."""

import asyncio
import json

import pytest

from config.asgi import application
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tests.streaming.asgi_client import Stream
from tests.streaming.test_backbone import fast_backbone, run  # noqa: F401 - fixture

from .conftest import db_thread
from .recorded import conversation_events

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/api/realtime/stream"


def refused(query="", headers=None) -> tuple[int, dict]:
    async def scenario():
        stream = Stream(application, PATH, query, headers or {})
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    return stream.status, json.loads(stream.body)


def test_stream__refuses_missing_wrong_revoked_and_wrong_scope_keys(organization):
    assert refused()[0] == 401
    status, body = refused(headers={"Authorization": "Bearer ap_live_wrong"})
    assert (status, body["error"]) == (401, "invalid_api_key")
    key, raw = tenancy_services.api_key_create(organization=organization, scopes=["read"])
    tenancy_services.api_key_revoke(api_key=key)
    assert refused(headers={"Authorization": f"Bearer {raw}"})[0] == 401
    _, ingest_only = tenancy_services.api_key_create(organization=organization,
                                                     scopes=["ingest"])
    status, body = refused(headers={"Authorization": f"Bearer {ingest_only}"})
    assert (status, body["error"]) == (403, "insufficient_scope")
    assert refused(headers={"Cookie": "sessionid=forged"})[0] == 401


def test_stream__events_of_the_keys_organization__filtered_by_conversation(
        client, organization, org_key, other_org_key):
    def ingest(event, key):
        response = client.post("/api/ingest", json.dumps(event), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code in (200, 201)

    async def scenario():
        everything = Stream(application, PATH, "", {"Authorization": f"Bearer {org_key}"})
        one = Stream(application, PATH, "conversationId=conv-b",
                     {"Authorization": f"Bearer {org_key}"})
        theirs = Stream(application, PATH, "", {"Authorization": f"Bearer {other_org_key}"})
        for stream in (everything, one, theirs):
            await stream.wait_for(lambda s: b"stream-open" in s.body)
        for event in conversation_events("conv-a", 2)[:3] + conversation_events("conv-b", 2)[:3]:
            await db_thread(ingest, event, org_key)
        await everything.wait_for(lambda s: len(s.events("message.created")) == 4)
        await one.wait_for(lambda s: len(s.events("message.created")) == 2)
        await asyncio.sleep(0.3)
        for stream in (everything, one, theirs):
            await stream.close()
        return everything, one, theirs

    everything, one, theirs = run(scenario())
    assert [f.event for f in everything.events("conversation.started", "message.created")] == \
        ["conversation.started", "message.created", "message.created"] * 2
    assert {json.loads(f.data)["conversation_id"] for f in one.events("message.created")} == \
        {"conv-b"}
    started = json.loads(one.events("conversation.started")[0].data)
    assert started["participants"][0]["agent_id"] == "claude-1"
    assert all(f.id for f in everything.events("message.created"))
    assert theirs.events("message.created") == []


def test_stream__staff_session_of_the_organization(client, django_user_model, organization,
                                                   org_key):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    Membership.objects.create(user=user, organization=organization, role="viewer")
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario():
        stream = Stream(application, PATH, "", {"Cookie": cookie})
        await stream.wait_for(lambda s: b"stream-open" in s.body)
        await db_thread(
            lambda: client.post("/api/ingest", json.dumps(conversation_events()[0]),
                                content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {org_key}"))
        await stream.wait_for(lambda s: s.events("conversation.started"))
        await stream.close()

    run(scenario())
    assert refused("organization=globex", {"Cookie": cookie})[0] == 404
    user.is_staff = False
    user.save()
    assert refused(headers={"Cookie": cookie})[0] == 401
