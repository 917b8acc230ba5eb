"""POST /api/ingest: what the AgentPipe CLI's bridge sends, stored the same whatever the order
and however often it arrives (issue 10, items 2, 3 and 8)."""

import json
import random

import pytest
from django.test import override_settings

from sessions_app.models import Conversation, IngestEvent, Message
from tenancy import services as tenancy_services
from tenancy.models import APIKey

from .recorded import SYSTEM_INFO, conversation_events

pytestmark = pytest.mark.django_db


def stored(client_id="conv-1") -> dict:
    """A conversation as stored, without what depends on arrival (row ids, arrival times)."""
    conversation = Conversation.objects.get(client_id=client_id)
    skip = {"id", "organization", "created_at", "updated_at", "received_at", "conversation"}

    def row(obj):
        return {f.name: getattr(obj, f.name) for f in obj._meta.concrete_fields
                if f.name not in skip}

    return {"conversation": row(conversation),
            "participants": [row(p) for p in conversation.participants.all()],
            "messages": [row(m) for m in conversation.messages.all()]}


def test_ingest__a_whole_conversation__stored_with_its_answers(post, org_key):
    answers = [post("/api/ingest", event, org_key) for event in conversation_events()]
    assert [a.status_code for a in answers] == [201] * 7 + [200, 200]
    assert answers[0].json() == {"conversation_id": "conv-1"}
    assert answers[1].json() == {"message_id": "msg-0", "conversation_id": "conv-1"}
    assert answers[-1].json() == {"conversation_id": "conv-1", "status": "completed"}
    conversation = Conversation.objects.get(client_id="conv-1")
    assert (conversation.status, conversation.source, conversation.mode) == \
        ("completed", "stream", "round-robin")
    assert conversation.message_count == 6 and conversation.total_tokens == 999
    assert conversation.errors[0]["error_type"] == "timeout"
    assert conversation.summary["short_text"] == "A token bucket"
    assert conversation.system_info == SYSTEM_INFO
    assert [p.agent_id for p in conversation.participants.all()] == ["claude-1", "gemini-1"]
    first, second = conversation.messages.all()[:2]
    assert (first.sequence_number, first.turn_number) == (0, None)  # left out by the CLI
    assert (second.sequence_number, second.turn_number, second.cost) == (1, 0, 0.0012)
    # nine events recorded as sent, each with its answer
    assert IngestEvent.objects.count() == 9


def test_ingest__shuffled_and_duplicated__same_conversation_every_time(post, org_key):
    events = conversation_events()
    for event in events:
        post("/api/ingest", event, org_key)
    expected = stored()
    for seed in range(4):
        Conversation.objects.all().delete()
        IngestEvent.objects.all().delete()
        rng = random.Random(seed)
        replay = events + rng.sample(events, 4)  # some arrive twice
        rng.shuffle(replay)
        for event in replay:
            assert post("/api/ingest", event, org_key).status_code in (200, 201)
        assert stored() == expected, f"seed {seed}"


def test_ingest__duplicate__same_answer_marked_and_nothing_changed(post, org_key):
    started, message = conversation_events()[:2]
    post("/api/ingest", started, org_key)
    first = post("/api/ingest", message, org_key)
    again = post("/api/ingest", message, org_key)
    assert again.status_code == first.status_code == 201
    assert again.json() == {**first.json(), "duplicate": True}
    assert Message.objects.count() == 1
    assert Conversation.objects.get().message_count == 1


def test_ingest__message_before_started__placeholder_filled_in_later(post, org_key):
    events = conversation_events()
    post("/api/ingest", events[3], org_key)
    placeholder = Conversation.objects.get()
    assert placeholder.placeholder and placeholder.mode == ""
    post("/api/ingest", events[0], org_key)
    conversation = Conversation.objects.get()
    assert not conversation.placeholder and conversation.mode == "round-robin"
    assert conversation.started_at.isoformat().startswith("2026-11-23T10:00:00")


def test_ingest__late_message_and_error__do_not_reopen_a_finished_conversation(post, org_key):
    events = conversation_events()
    post("/api/ingest", events[0], org_key)
    post("/api/ingest", events[-1], org_key)  # completed
    post("/api/ingest", events[2], org_key)   # a message sent before, arriving after
    post("/api/ingest", events[-2], org_key)  # the error
    conversation = Conversation.objects.get()
    assert conversation.status == "completed" and conversation.message_count == 1


def test_ingest__error_is_not_terminal(post, org_key):
    events = conversation_events()
    post("/api/ingest", events[0], org_key)
    post("/api/ingest", events[-2], org_key)
    assert Conversation.objects.get().status == "error"
    post("/api/ingest", events[-1], org_key)
    assert Conversation.objects.get().status == "completed"


def test_ingest__bridge_events_and_seed_aliases(post, org_key):
    connected = {"type": "bridge.connected", "timestamp": "2026-11-23T10:00:00Z",
                 "data": {"system_info": SYSTEM_INFO, "connected_at": "2026-11-23T10:00:00Z"}}
    assert post("/api/ingest", connected, org_key).status_code == 200
    assert post("/api/ingest", {"type": "bridge.test", "timestamp": "2026-11-23T10:00:01.5Z",
                                "data": {"message": "hi", "system_info": SYSTEM_INFO}},
                org_key).status_code == 200
    assert post("/api/ingest", connected, org_key).json()["duplicate"] is True
    # the seed document's camelCase shape and event names
    post("/api/ingest", {"type": "conversation.started", "timestamp": "2026-11-23T10:00:00Z",
                         "data": {"conversationId": "seed-1", "mode": "debate",
                                  "initialPrompt": "hello",
                                  "participants": [{"agentId": "a", "agentType": "claude"}]}},
         org_key)
    post("/api/ingest", {"type": "error.occurred", "timestamp": "2026-11-23T10:00:01Z",
                         "data": {"conversationId": "seed-1", "errorMessage": "boom"}}, org_key)
    interrupted = post("/api/ingest", {"type": "conversation.interrupted",
                                       "timestamp": "2026-11-23T10:00:02Z",
                                       "data": {"conversationId": "seed-1"}}, org_key)
    assert interrupted.json()["status"] == "interrupted"
    conversation = Conversation.objects.get(client_id="seed-1")
    assert (conversation.initial_prompt, conversation.status) == ("hello", "interrupted")
    assert conversation.errors[0]["error_message"] == "boom"
    assert conversation.participants.get().agent_type == "claude"


@pytest.mark.parametrize("change, field", [
    (lambda e: e.pop("type"), "type"),
    (lambda e: e.update(type="conversation.exploded"), "type"),
    (lambda e: e.update(timestamp="2026-11-23 10:00:00"), "timestamp"),
    (lambda e: e.update(timestamp="2026-11-23T10:00:00"), "timestamp"),  # no offset
    (lambda e: e.pop("data"), "data"),
    (lambda e: e["data"].pop("conversation_id"), "data.conversation_id"),
    (lambda e: e["data"].pop("message_id"), "data.message_id"),
    (lambda e: e["data"].update(content=7), "data.content"),
    (lambda e: e["data"].update(content="é" * 60_000), "data.content"),  # 120 KB
    (lambda e: e["data"].update(tokens_used=-1), "data.tokens_used"),
    (lambda e: e["data"].update(cost="cheap"), "data.cost"),
    (lambda e: e["data"].update(sequence_number=True), "data.sequence_number"),
])
def test_ingest__bad_input__400_naming_the_field_and_nothing_stored(post, org_key, change,
                                                                   field):
    event = json.loads(json.dumps(conversation_events()[1]))
    change(event)
    response = post("/api/ingest", event, org_key)
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Conversation.objects.exists() and not IngestEvent.objects.exists()


def test_ingest__bad_participant_and_status__named(post, org_key):
    started = conversation_events()[0]
    started["data"]["participants"][1].pop("agent_id")
    response = post("/api/ingest", started, org_key)
    assert response.json()["fields"] == {"data.participants.1.agent_id": ["is required"]}
    completed = conversation_events()[-1]
    completed["data"]["status"] = "exploded"
    assert "data.status" in post("/api/ingest", completed, org_key).json()["fields"]


def test_ingest__not_json_and_not_an_object(client, org_key):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {org_key}"}
    response = client.post("/api/ingest", "{nope", content_type="application/json", **headers)
    assert response.status_code == 400 and response.json()["error"] == "parse_error"
    response = client.post("/api/ingest", "[1]", content_type="application/json", **headers)
    assert response.json()["fields"] == {"body": ["must be a JSON object"]}


def test_ingest__body_over_1_mb__413(post, org_key):
    event = conversation_events()[1]
    event["data"]["padding"] = "x" * (1024 * 1024)
    response = post("/api/ingest", event, org_key)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert not IngestEvent.objects.exists()


def test_ingest__no_trailing_slash_and_post_only(client, post, org_key):
    assert post("/api/ingest", conversation_events()[0], org_key).status_code == 201
    response = client.get("/api/ingest", HTTP_AUTHORIZATION=f"Bearer {org_key}")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


@override_settings(INGEST_RATE_LIMIT_PER_MINUTE=3)
def test_ingest__rate_limited__429_retry_after__but_never_the_end(post, org_key):
    from django.core.cache import cache

    cache.clear()
    events = conversation_events()
    answers = [post("/api/ingest", event, org_key) for event in events[:5]]
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert int(answers[3]["Retry-After"]) >= 1
    assert answers[3].json()["error"] == "rate_limited"
    assert post("/api/ingest", events[-1], org_key).status_code == 200  # completed
    assert Conversation.objects.get().status == "completed"
    assert Message.objects.count() == 2


# --- credentials ----------------------------------------------------------------------------

def test_ingest__credentials__missing_wrong_revoked_wrong_scope(post, organization, org_key):
    event = conversation_events()[0]
    assert post("/api/ingest", event, None).status_code == 401
    assert post("/api/ingest", event, "ap_live_nope").json()["error"] == "invalid_api_key"
    key, raw = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    tenancy_services.api_key_revoke(api_key=key)
    assert post("/api/ingest", event, raw).status_code == 401
    _, read_only = tenancy_services.api_key_create(organization=organization, scopes=["read"])
    refused = post("/api/ingest", event, read_only)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert not IngestEvent.objects.exists()


def test_api_key__stored_hashed__rotation_grace(organization):
    key, raw = tenancy_services.api_key_create(organization=organization, scopes="ingest,read")
    assert raw.startswith("ap_live_") and len(raw) >= 8 + 43
    assert raw not in json.dumps(list(APIKey.objects.values()), default=str)
    assert key.scopes == ["ingest", "read"]
    new, new_raw = tenancy_services.api_key_rotate(api_key=key, grace_seconds=60)
    from tenancy.selectors import api_key_authenticate

    assert api_key_authenticate(raw) == key and api_key_authenticate(new_raw) == new
    tenancy_services.api_key_rotate(api_key=new, grace_seconds=0)
    assert api_key_authenticate(new_raw) is None


def test_ingest__same_conversation_id_in_two_organizations__kept_apart(post, org_key,
                                                                      other_org_key):
    post("/api/ingest", conversation_events()[0], org_key)
    post("/api/ingest", conversation_events()[0], other_org_key)
    assert Conversation.objects.filter(client_id="conv-1").count() == 2
