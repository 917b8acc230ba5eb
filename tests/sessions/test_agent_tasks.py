"""Agent-to-agent tasks over REST (issue 11, items 1, 2 and 6): create, read, the agent's
messages, polling, cancel, expiry; who may do what."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app import agent_tasks
from sessions_app.models import Task, TaskMessage
from tenancy import services as tenancy_services
from tenancy.models import Membership, Organization
from tenancy.tokens import access_token_issue

pytestmark = pytest.mark.django_db
BASE = "/agent-to-agent/acme/writer/tasks"


@pytest.fixture
def member(django_user_model, organization):
    user = django_user_model.objects.create_user("app", password="pw")
    Membership.objects.create(user=user, organization=organization, role="viewer")
    return {"HTTP_AUTHORIZATION": f"Bearer {access_token_issue(user)}"}


@pytest.fixture
def agent_key(organization):
    _, raw = tenancy_services.api_key_create(organization=organization, scopes=["agent"])
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(client, method, path, headers, body=None):
    return client.generic(method, path, json.dumps(body) if body is not None else "",
                          content_type="application/json", **headers)


def test_task__created_worked_on_and_completed(client, member, agent_key):
    created = send(client, "POST", f"{BASE}/", member, {"id": "t-1", "input": {"q": "hi"}})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["id"], body["state"], body["agent"]) == ("t-1", "submitted", "writer")
    assert body["streamEndpoint"] == f"{BASE}/t-1/stream"
    for kind, extra in [("progress", {"progress": 10}), ("chunk", {"content": "Hello, "}),
                        ("chunk", {"content": "world"}), ("complete", {"content": "done"})]:
        posted = send(client, "POST", f"{BASE}/t-1/messages", agent_key, {"kind": kind, **extra})
        assert posted.status_code == 201, posted.json()
    assert posted.json()["state"] == "completed" and posted.json()["sequence"] == 4
    polled = send(client, "GET", f"{BASE}/t-1/messages?after=1", member).json()
    assert [m["sequence"] for m in polled["messages"]] == [2, 3, 4]
    assert "".join(m["content"] for m in polled["messages"] if m["kind"] == "chunk") == \
        "Hello, world"
    assert polled["task"]["state"] == "completed"
    late = send(client, "POST", f"{BASE}/t-1/messages", agent_key, {"kind": "chunk"})
    assert late.status_code == 409
    assert send(client, "GET", f"{BASE}/t-1", agent_key).json()["lastSequence"] == 4


def test_task__cancel__status_message_then_nothing_more(client, member, agent_key):
    send(client, "POST", f"{BASE}", member, {"id": "t-2"})
    canceled = send(client, "POST", f"{BASE}/t-2/cancel", member)
    assert canceled.json()["state"] == "canceled"
    assert send(client, "POST", f"{BASE}/t-2/cancel", member).status_code == 409
    assert send(client, "GET", f"{BASE}/t-2/messages", member).json()["messages"][0][
        "metadata"] == {"state": "canceled"}


def test_task__bad_input__400_naming_the_field_nothing_written(client, member, agent_key):
    send(client, "POST", f"{BASE}/", member, {"id": "t-3"})
    for body, field in [({"kind": "shout"}, "kind"), ({"kind": "progress", "progress": 101},
                                                     "progress"),
                        ({"kind": "chunk", "content": 5}, "content"),
                        ({"kind": "chunk", "metadata": []}, "metadata")]:
        response = send(client, "POST", f"{BASE}/t-3/messages", agent_key, body)
        assert response.status_code == 400 and field in response.json()["fields"]
    assert not TaskMessage.objects.exists()
    assert send(client, "POST", f"{BASE}/", member, {"id": "bad id!"}).json()["fields"] == {
        "id": ["must be 1 to 200 letters, digits or - _ . :"]}
    assert send(client, "POST", f"{BASE}/", member, {"id": "t-3"}).status_code == 409
    assert send(client, "GET", f"{BASE}/t-3/messages?after=x", member).status_code == 400


def test_task__credentials(client, organization, member, agent_key):
    send(client, "POST", f"{BASE}/", member, {"id": "t-4"})
    assert send(client, "GET", f"{BASE}/t-4", {}).status_code == 401
    assert send(client, "GET", f"{BASE}/t-4", {"HTTP_AUTHORIZATION": "Bearer nope"}) \
        .status_code == 401
    assert send(client, "GET", f"{BASE}/t-4", {"HTTP_AUTHORIZATION": "Bearer ap_live_x"}) \
        .status_code == 401
    key, raw = tenancy_services.api_key_create(organization=organization, scopes=["read"])
    read_only = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert send(client, "POST", f"{BASE}/t-4/messages", read_only,
                {"kind": "chunk"}).status_code == 403
    # the agent's side takes API keys only
    assert send(client, "POST", f"{BASE}/t-4/messages", member,
                {"kind": "chunk"}).status_code == 403
    agent, raw_agent = tenancy_services.api_key_create(organization=organization,
                                                       scopes=["agent"])
    tenancy_services.api_key_revoke(api_key=agent)
    assert send(client, "POST", f"{BASE}/t-4/messages",
                {"HTTP_AUTHORIZATION": f"Bearer {raw_agent}"}, {"kind": "chunk"}) \
        .status_code == 401
    # another organization's key and member see nothing of acme's
    other = Organization.objects.create(slug="globex", name="Globex")
    _, theirs = tenancy_services.api_key_create(organization=other, scopes=["agent"])
    assert send(client, "GET", f"{BASE}/t-4", {"HTTP_AUTHORIZATION": f"Bearer {theirs}"}) \
        .status_code == 404
    assert send(client, "GET", "/agent-to-agent/globex/writer/tasks/t-4", member) \
        .status_code == 404
    assert not TaskMessage.objects.exists()


def test_task_messages__expired__never_returned_and_pruned(client, member, agent_key,
                                                           settings):
    send(client, "POST", f"{BASE}/", member, {"id": "t-5"})
    for n in range(3):
        send(client, "POST", f"{BASE}/t-5/messages", agent_key, {"kind": "chunk",
                                                                  "content": str(n)})
    TaskMessage.objects.filter(sequence__lte=2).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    polled = send(client, "GET", f"{BASE}/t-5/messages", member).json()["messages"]
    assert [m["sequence"] for m in polled] == [3]
    assert agent_tasks.task_messages_prune() == 2
    assert list(TaskMessage.objects.values_list("sequence", flat=True)) == [3]
    message = TaskMessage.objects.get()
    assert message.expires_at - message.created_at == timedelta(
        minutes=settings.TASK_MESSAGE_TTL_MINUTES)
    assert Task.objects.get().last_sequence == 3


def test_prune__scheduled_every_15_minutes():
    from config.celery import app

    entry = app.conf.beat_schedule["prune-task-messages"]
    assert entry["task"] == "sessions_app.tasks.prune_task_messages"
    assert entry["schedule"] == 15 * 60  # seconds (TASK_PRUNE_SECONDS)


# --- stream tokens (item 3) -----------------------------------------------------------------

def issue(client, headers, task="t-9"):
    return send(client, "POST", f"{BASE}/{task}/stream-token", headers)


def test_stream_token__issued_to_a_member__bound_to_task_and_user(client, member, settings):
    from sessions_app.stream_tokens import stream_token_check
    from tenancy.tokens import TokenError, token_user

    send(client, "POST", f"{BASE}/", member, {"id": "t-9"})
    send(client, "POST", f"{BASE}/", member, {"id": "t-10"})
    answer = issue(client, member)
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert answer.json()["streamEndpoint"] == f"{BASE}/t-9/stream"
    row = stream_token_check(token, Task.objects.get(task_id="t-9"))
    assert (row.expires_at - row.created_at).total_seconds() == settings.STREAM_TOKEN_TTL_SECONDS
    with pytest.raises(Exception) as wrong_task:
        stream_token_check(token, Task.objects.get(task_id="t-10"))
    assert wrong_task.value.status == 403
    # not a login token, and a login token is not a stream token
    with pytest.raises(TokenError):
        token_user(token)
    login = member["HTTP_AUTHORIZATION"].split()[1]
    with pytest.raises(Exception) as not_stream:
        stream_token_check(login, Task.objects.get(task_id="t-9"))
    assert not_stream.value.status == 401


def test_stream_token__5_per_30_s_per_user_and_task__then_429(client, member):
    from django.core.cache import cache

    cache.clear()
    send(client, "POST", f"{BASE}/", member, {"id": "t-9"})
    codes = [issue(client, member) for _ in range(6)]
    assert [c.status_code for c in codes] == [201] * 5 + [429]
    assert int(codes[-1]["Retry-After"]) >= 1


def test_stream_token__users_only__expired_and_deactivated_refused(client, member, agent_key,
                                                                   django_user_model):
    from sessions_app.stream_tokens import stream_token_check, stream_tokens_ended

    send(client, "POST", f"{BASE}/", member, {"id": "t-9"})
    assert issue(client, agent_key).status_code == 403  # an API key is no user
    assert issue(client, {}).status_code == 401
    token = issue(client, member).json()["token"]
    task = Task.objects.get(task_id="t-9")
    row = stream_token_check(token, task)
    assert stream_tokens_ended([row.pk]) == set()
    row.user.is_active = False
    row.user.save()
    assert stream_tokens_ended([row.pk]) == {row.pk}
    with pytest.raises(Exception) as deactivated:
        stream_token_check(token, task)
    assert deactivated.value.status == 403
    row.user.is_active = True
    row.user.save()
    type(row).objects.filter(pk=row.pk).update(expires_at=timezone.now())
    assert stream_tokens_ended([row.pk]) == {row.pk}
    with pytest.raises(Exception) as expired:
        stream_token_check(token, task)
    assert expired.value.status == 401


def test_admin__tasks_listed_with_messages_and_a_live_link(client, django_user_model, member,
                                                           agent_key):
    from django.urls import reverse

    send(client, "POST", f"{BASE}/", member, {"id": "t-adm"})
    send(client, "POST", f"{BASE}/t-adm/messages", agent_key, {"kind": "chunk",
                                                               "content": "partial"})
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.io", "pw"))
    listing = client.get(reverse("admin:sessions_app_task_changelist")).content.decode()
    assert "t-adm" in listing and "working" in listing.lower()
    task = Task.objects.get(task_id="t-adm")
    page = client.get(reverse("admin:sessions_app_task_change", args=[task.pk])).content.decode()
    assert "partial" in page and f"/live/tasks/{task.pk}/" in page
    assert client.get(f"/live/tasks/{task.pk}/").status_code == 200


def test_messages_post__several_tasks_in_one_batch__numbered_per_task_and_published(
        organization, django_capture_on_commit_callbacks):
    """task_messages_post (the batch path every message takes): each task's messages are
    numbered from its own sequence, a chunk after a chunk appends, state follows the kinds, and
    each message is published on its task's channel with its sequence as the event id."""
    from streaming.selectors import read_events

    first = agent_tasks.task_create(organization=organization, agent="writer", task_id="a")
    second = agent_tasks.task_create(organization=organization, agent="writer", task_id="b")
    with django_capture_on_commit_callbacks(execute=True):
        agent_tasks.task_message_post(task=first, kind="chunk", content="0")
    with django_capture_on_commit_callbacks(execute=True):
        agent_tasks.task_messages_post([
            (first, "chunk", "1", None, None), (second, "chunk", "x", None, None),
            (first, "progress", "", 50, {"step": 2}), (second, "complete", "done", None, None)])
    rows = {task_id: list(TaskMessage.objects.filter(task__task_id=task_id)
                          .values_list("sequence", "kind", "content", "progress", "metadata"))
            for task_id in ("a", "b")}
    assert rows == {"a": [(1, "chunk", "0", None, {}), (2, "chunk", "1", None, {}),
                          (3, "progress", "", 50.0, {"step": 2})],
                    "b": [(1, "chunk", "x", None, {}), (2, "complete", "done", None, {})]}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.last_sequence) == ("working", 3)
    assert (second.state, second.last_sequence) == ("completed", 2)
    events = read_events(agent_tasks.task_channel(first), 0)
    assert [(e.id, e.payload["sequence"], e.payload.get("append")) for e in events] == [
        (1, 1, False), (2, 2, True), (3, 3, False)]
    assert [e.payload["state"] for e in read_events(agent_tasks.task_channel(second), 0)] == [
        "working", "completed"]


def test_messages_post__a_finished_task_in_the_batch__409_and_nothing_written(organization):
    open_task = agent_tasks.task_create(organization=organization, agent="writer", task_id="o")
    done = agent_tasks.task_create(organization=organization, agent="writer", task_id="d")
    agent_tasks.task_message_post(task=done, kind="complete")
    with pytest.raises(agent_tasks.TaskConflict):
        agent_tasks.task_messages_post([(open_task, "chunk", "1", None, None),
                                        (done, "chunk", "late", None, None)])
    with pytest.raises(agent_tasks.TaskConflict):  # finished earlier in the same batch
        agent_tasks.task_messages_post([(open_task, "error", "boom", None, None),
                                        (open_task, "chunk", "after", None, None)])
    open_task.refresh_from_db()
    assert (open_task.state, open_task.last_sequence) == ("submitted", 0)
    assert not TaskMessage.objects.filter(task=open_task).exists()


def test_messages_post__event_stored_with_the_message_before_the_commit(
        organization, django_capture_on_commit_callbacks):
    """A task stream opens with the task's output so far and the channel's id, read in one
    snapshot; a message committed before its event would show up there and then again as its
    event (CI saw a live task page read "0 1 2 3 4 5 6 6 7"). So the event is stored in the
    message's own transaction, and only its fan-out waits for the commit."""
    from streaming.selectors import current_id

    task = agent_tasks.task_create(organization=organization, agent="writer", task_id="s")
    channel = agent_tasks.task_channel(task)
    with django_capture_on_commit_callbacks(execute=False) as fan_outs:
        agent_tasks.task_message_post(task=task, kind="chunk", content="0")
        # Not yet committed (the callbacks have not run): message and event are there together.
        assert TaskMessage.objects.filter(task=task).count() == 1
        assert current_id(channel) == 1
    assert len(fan_outs) == 1
    agent_tasks.task_cancel(task=task)
    assert current_id(channel) == 2
