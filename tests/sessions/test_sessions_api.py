"""POST /api/sessions/upload, GET /api/sessions and GET /api/sessions/<id> (issue 10, items
4, 5 and 8)."""

import json

import pytest
from django.test import override_settings

from sessions_app.models import Conversation, Message
from tenancy import services as tenancy_services

from .recorded import conversation_events

pytestmark = pytest.mark.django_db


def upload_body(original_id="rec-1", messages=3, **metadata) -> dict:
    return {"metadata": {"originalId": original_id, "mode": "debate",
                         "initialPrompt": "Compare queues", "status": "completed",
                         "startedAt": "2026-11-20T09:00:00Z",
                         "endedAt": "2026-11-20T09:05:00Z", **metadata},
            "participants": [{"agentId": "a1", "agentType": "claude", "name": "A"},
                             {"agentId": "a2", "agentType": "codex"}],
            "messages": [{"message_id": f"m{n}", "agent_id": "a1" if n % 2 else "a2",
                          "content": f"text {n}", "sequence_number": n,
                          "timestamp": f"2026-11-20T09:00:{n % 60:02d}Z"}
                         for n in range(messages)]}


def get(client, path, key, **params):
    return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {key}" if key else "")


def test_upload__stored_whole__idempotent_on_original_id(post, org_key):
    first = post("/api/sessions/upload", upload_body(messages=10_000), org_key)
    assert first.status_code == 201, first.json()
    assert first.json()["messages"] == 10_000
    conversation = Conversation.objects.get()
    assert (conversation.source, conversation.client_id, conversation.status) == \
        ("upload", "rec-1", "completed")
    assert conversation.messages.count() == 10_000 and conversation.message_count == 10_000
    last = conversation.messages.order_by("-sequence_number").first()
    assert (last.client_id, last.agent_id, last.content, last.turn_number) == \
        ("m9999", "a1", "text 9999", None)
    assert last.created_at.isoformat() == "2026-11-20T09:00:39+00:00"
    again = post("/api/sessions/upload", upload_body(messages=2), org_key)
    assert again.status_code == 200
    assert again.json() == {"id": conversation.pk, "conversation_id": "rec-1",
                            "duplicate": True}
    assert Message.objects.count() == 10_000


@pytest.mark.parametrize("change, field", [
    (lambda b: b["messages"][3].update(agent_id="stranger"), "messages.3.agent_id"),
    (lambda b: b["messages"][2].pop("timestamp"), "messages.2.timestamp"),
    (lambda b: b["messages"][1].update(content="x" * (101 * 1024)), "messages.1.content"),
    (lambda b: b["messages"][1].update(message_id="m0"), "messages.1.message_id"),
    (lambda b: b["metadata"].pop("originalId"), "metadata.original_id"),
    (lambda b: b["metadata"].update(status="exploded"), "metadata.status"),
    (lambda b: b.update(participants=[]), "participants"),
    (lambda b: b.pop("messages"), "messages"),
])
def test_upload__any_bad_field__400_naming_it__nothing_stored(post, org_key, change, field):
    body = upload_body(messages=5)
    change(body)
    response = post("/api/sessions/upload", body, org_key)
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_upload__over_10000_messages__refused(post, org_key):
    response = post("/api/sessions/upload", upload_body(messages=10_001), org_key)
    assert response.status_code == 400 and "messages" in response.json()["fields"]


@override_settings(UPLOAD_RATE_LIMIT_PER_MINUTE=2)
def test_upload__rate_limited(post, org_key):
    from django.core.cache import cache

    cache.clear()
    codes = [post("/api/sessions/upload", upload_body(f"r{n}", 1), org_key).status_code
             for n in range(3)]
    assert codes == [201, 201, 429]


def test_upload__credentials(post, organization, org_key):
    _, ingest_only = tenancy_services.api_key_create(organization=organization,
                                                     scopes=["ingest"])
    assert post("/api/sessions/upload", upload_body(), ingest_only).status_code == 403
    assert post("/api/sessions/upload", upload_body(), None).status_code == 401
    assert post("/api/sessions/upload", upload_body(), "ap_live_x").status_code == 401
    key, revoked = tenancy_services.api_key_create(organization=organization, scopes=["upload"])
    tenancy_services.api_key_revoke(api_key=key)
    assert post("/api/sessions/upload", upload_body(), revoked).status_code == 401
    assert not Conversation.objects.exists()


@pytest.fixture
def sessions(post, org_key, other_org_key):
    for index, status in enumerate(["completed", "interrupted"]):
        events = conversation_events(f"live-{index}", messages=4)
        events[-1]["data"]["status"] = status
        events[0]["timestamp"] = f"2026-11-2{index + 1}T10:00:00Z"
        for event in events:
            post("/api/ingest", event, org_key)
    post("/api/ingest", conversation_events("active-1", 2)[0], org_key)
    post("/api/sessions/upload", upload_body("rec-1", 3), org_key)
    post("/api/ingest", conversation_events("theirs", 2)[0], other_org_key)


def test_session_list__filters_sort_and_pages(client, org_key, sessions):
    listed = get(client, "/api/sessions", org_key).json()
    assert listed["total"] == 4 and listed["pages"] == 1
    assert "theirs" not in {s["conversation_id"] for s in listed["results"]}
    by = {s["conversation_id"]: s for s in listed["results"]}
    assert by["live-0"]["participants"][0]["agent_id"] == "claude-1"

    def ids(**params):
        return [s["conversation_id"] for s in get(client, "/api/sessions", org_key,
                                                  **params).json()["results"]]

    assert ids(status="interrupted") == ["live-1"]
    assert ids(source="upload") == ["rec-1"]
    assert set(ids(agentType="codex")) == {"rec-1"}
    assert set(ids(search="rate limiter")) == {"live-0", "live-1", "active-1"}
    assert ids(sort="startedAt", order="asc")[0] == "rec-1"
    assert ids(**{"from": "2026-11-22T00:00:00Z", "to": "2026-11-22T23:59:59Z"}) == ["live-1"]
    page = get(client, "/api/sessions", org_key, limit=3, page=2).json()
    assert (page["total"], page["pages"], len(page["results"])) == (4, 2, 1)


@pytest.mark.parametrize("params, field", [
    ({"limit": "101"}, "limit"), ({"limit": "abc"}, "limit"), ({"page": "0"}, "page"),
    ({"status": "sleeping"}, "status"), ({"sort": "colour"}, "sort"),
    ({"order": "up"}, "order"), ({"from": "yesterday"}, "from"), ({"colour": "x"}, "colour"),
])
def test_session_list__bad_parameters__400_naming_them(client, org_key, params, field):
    response = get(client, "/api/sessions", org_key, **params)
    assert response.status_code == 400 and field in response.json()["fields"]


def test_session_detail__messages_in_order_paged_with_a_cursor(client, org_key, sessions):
    conversation = Conversation.objects.get(client_id="live-0")
    url = f"/api/sessions/{conversation.pk}"
    whole = get(client, url, org_key).json()
    assert [m["message_id"] for m in whole["messages"]] == ["msg-0", "msg-1", "msg-2", "msg-3"]
    assert whole["system_info"]["os"] == "linux" and whole["next_cursor"] is None
    first = get(client, url, org_key, messageLimit=3).json()
    assert [m["message_id"] for m in first["messages"]] == ["msg-0", "msg-1", "msg-2"]
    rest = get(client, url, org_key, messageLimit=3, cursor=first["next_cursor"]).json()
    assert [m["message_id"] for m in rest["messages"]] == ["msg-3"]
    assert "messages" not in get(client, url, org_key, includeMessages="false").json()
    assert get(client, url, org_key, cursor="garbage").status_code == 400


def test_session_read__credentials_and_other_organization(client, organization, org_key,
                                                          other_org_key, sessions):
    mine = Conversation.objects.get(client_id="live-0")
    theirs = Conversation.objects.get(client_id="theirs")
    assert get(client, f"/api/sessions/{theirs.pk}", org_key).status_code == 404
    assert get(client, f"/api/sessions/{mine.pk}", other_org_key).status_code == 404
    assert get(client, "/api/sessions/999999", org_key).status_code == 404
    assert get(client, "/api/sessions", None).status_code == 401
    assert get(client, "/api/sessions", "ap_live_x").status_code == 401
    key, raw = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    assert get(client, "/api/sessions", raw).status_code == 403
    tenancy_services.api_key_revoke(api_key=key)
    assert get(client, "/api/sessions", raw).status_code == 401
    assert json.loads(get(client, "/api/sessions", None).content)["error"] == \
        "not_authenticated"
