"""What staff and operators meet: API keys in the admin and from manage.py, the sessions
admin, the live pages, the demo's key, and GET /api/health (issue 10, items 2, 7 and 9)."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from sessions_app.models import Conversation
from tenancy.models import APIKey, Membership, Organization
from tenancy.selectors import api_key_authenticate

from .recorded import conversation_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.io", "pw"))
    return client


@pytest.fixture
def conversation(post, org_key):
    for event in conversation_events(messages=3):
        post("/api/ingest", event, org_key)
    return Conversation.objects.get()


def test_create_api_key__command_prints_only_the_key(capsys, organization):
    call_command("create_api_key", "acme", "--scope", "ingest", "--scope", "read")
    raw = capsys.readouterr().out.strip()
    api_key = api_key_authenticate(raw)
    assert api_key.organization == organization and api_key.scopes == ["ingest", "read"]


def test_create_api_key__unknown_organization__error(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no organization 'nope'"):
        call_command("create_api_key", "nope", "--scope", "ingest")


def test_admin__api_key_created__secret_shown_once_hashed_stored(staff, organization):
    response = staff.post(reverse("admin:tenancy_apikey_add"), {
        "organization": organization.pk, "name": "ci", "scopes": ["ingest", "upload"]},
        follow=True)
    message = next(str(m) for m in response.context["messages"])
    raw = message.split(": ")[1].split(" ")[0]
    assert raw.startswith("ap_live_")
    assert api_key_authenticate(raw).scopes == ["ingest", "upload"]
    listing = staff.get(reverse("admin:tenancy_apikey_changelist")).content.decode()
    assert raw not in listing and "ingest, upload" in listing
    api_key = APIKey.objects.get()
    staff.post(reverse("admin:tenancy_apikey_changelist"),
               {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    assert api_key_authenticate(raw) is None


def test_admin__sessions_listed_filtered_and_shown_with_messages(staff, conversation):
    listing = staff.get(reverse("admin:sessions_app_conversation_changelist"),
                        {"status": "completed", "agent_type": "gemini"}).content.decode()
    assert "conv-1" in listing and "Design a rate limiter" in listing
    assert "conv-1" not in staff.get(reverse("admin:sessions_app_conversation_changelist"),
                                     {"status": "active"}).content.decode()
    page = staff.get(reverse("admin:sessions_app_conversation_change",
                             args=[conversation.pk])).content.decode()
    assert "message 2: xx" in page and "claude-sonnet-4" in page
    assert f"/live/sessions/{conversation.pk}/" in page


def test_admin__other_organizations_sessions_hidden(client, django_user_model, conversation):
    other = Organization.objects.create(slug="globex", name="Globex")
    user = django_user_model.objects.create_user("g", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="sessions_app"))
    Membership.objects.create(user=user, organization=other, role="admin")
    client.force_login(user)
    listing = client.get(reverse("admin:sessions_app_conversation_changelist"))
    assert listing.status_code == 200 and "conv-1" not in listing.content.decode()
    assert client.get(f"/live/sessions/{conversation.pk}/").status_code == 404


def test_live_pages__drawn_with_the_stream_to_follow(staff, conversation):
    page = staff.get(f"/live/sessions/{conversation.pk}/").content.decode()
    data = json.loads(page.split('<script id="page" type="application/json">')[1]
                      .split("</script>")[0])
    assert [m["message_id"] for m in data["messages"]] == ["msg-0", "msg-1", "msg-2"]
    assert data["streamUrl"].startswith("/api/realtime/stream?conversationId=conv-1")
    assert "lastEventId=sessions-" in data["streamUrl"]
    listing = staff.get("/live/sessions/")
    assert listing.status_code == 200


def test_live_page__message_content_cannot_break_out_of_the_page(staff, post, org_key):
    events = conversation_events(messages=1)
    events[1]["data"]["content"] = "</script><script>alert(1)</script>"
    for event in events[:2]:
        post("/api/ingest", event, org_key)
    page = staff.get(f"/live/sessions/{Conversation.objects.get().pk}/").content.decode()
    assert "<script>alert(1)" not in page


def test_live_pages__staff_only(client):
    assert client.get("/live/sessions/").status_code == 302  # to the admin login


def test_health__ok_with_figures(client, db):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["down"] == []
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert "open_streams" in body["streams"]


def test_health__a_dependency_down__503_naming_it(client, db, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    with override_settings(CACHES={"default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0"}}):
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["down"] == ["cache", "broker"]
    assert "Error" in response.json()["checks"]["broker"]["error"]


def test_demo__creates_an_api_key_once_and_prints_it(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo")
    first = capsys.readouterr().out
    raw = next(line.split()[-1] for line in first.splitlines() if line.startswith("API key"))
    assert api_key_authenticate(raw).scopes == ["ingest", "upload", "read"]
    call_command("bootstrap_demo")
    assert raw in capsys.readouterr().out and APIKey.objects.count() == 1
