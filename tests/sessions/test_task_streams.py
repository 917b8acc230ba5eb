"""The task streams in process (issue 11, items 4 and 5): A2A frames with exact fields, the
task first, replay after it, the end on a terminal state, and every refused token."""

import json

import pytest
from google.protobuf.json_format import Parse

from config.asgi import application
from sessions_app import agent_tasks
from sessions_app.stream_tokens import stream_token_issue
from tenancy.models import Membership
from tests.streaming.asgi_client import Stream
from tests.streaming.test_backbone import fast_backbone, run  # noqa: F401 - fixture

from .conftest import db_thread

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/agent-to-agent/acme/writer/tasks/{}/stream"


def strict(frame_data: str):
    """Parse as a2a-sdk's StreamResponse, refusing unknown fields."""
    from a2a.types.a2a_pb2 import StreamResponse

    return Parse(frame_data, StreamResponse(), ignore_unknown_fields=False)


@pytest.fixture
def user(django_user_model, organization):
    member = django_user_model.objects.create_user("app", password="pw")
    Membership.objects.create(user=member, organization=organization, role="viewer")
    return member


@pytest.fixture
def task(organization, user):
    return agent_tasks.task_create(organization=organization, agent="writer", task_id="t-1",
                                   created_by=user)


def open_stream(task_id, query="", headers=None, path=PATH):
    return Stream(application, path.format(task_id), query, headers or {})


def test_task_stream__task_first_then_updates_then_ends_on_completion(task, user):
    token, _ = stream_token_issue(user=user, task=task)

    async def scenario():
        stream = open_stream("t-1", f"token={token}")
        await stream.wait_for(lambda s: b'"task"' in s.body)
        for kind, extra in [("progress", {"progress": 50}), ("chunk", {"content": "Hel"}),
                            ("chunk", {"content": "lo"}), ("complete", {"content": "done"})]:
            await db_thread(agent_tasks.task_message_post, task=task, kind=kind,
                                    **extra)
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    assert stream.status == 200
    frames = [f for f in stream.frames if f.data]
    parsed = [strict(f.data) for f in frames]
    assert parsed[0].task.id == "t-1"
    assert parsed[0].task.status.state == 1  # TASK_STATE_SUBMITTED
    assert parsed[1].status_update.metadata["progress"] == 50
    assert [p.artifact_update.artifact.parts[0].text for p in parsed[2:4]] == ["Hel", "lo"]
    assert [p.artifact_update.append for p in parsed[2:4]] == [False, True]
    assert parsed[4].status_update.status.state == 3  # TASK_STATE_COMPLETED
    assert all(f.id for f in frames)
    assert not any(f.event not in ("", "message", None) for f in frames)  # no other events


def test_task_stream__resumed__task_then_what_followed_nothing_twice(task, user):
    token, _ = stream_token_issue(user=user, task=task)
    for n in range(3):
        agent_tasks.task_message_post(task=task, kind="chunk", content=str(n))

    async def first_pass():
        stream = open_stream("t-1", f"token={token}")
        await stream.wait_for(lambda s: b'"task"' in s.body)
        await stream.close()
        return stream

    first = run(first_pass())
    snapshot_id = first.frames[-1].id
    agent_tasks.task_message_post(task=task, kind="chunk", content="3")
    agent_tasks.task_message_post(task=task, kind="complete")

    async def resumed():
        stream = open_stream("t-1", f"token={token}", {"Last-Event-ID": snapshot_id})
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    again = run(resumed())
    parsed = [strict(f.data) for f in again.frames if f.data]
    assert parsed[0].task.artifacts[0].parts[0].text == "0123"  # the task, as it is now
    assert [p.artifact_update.artifact.parts[0].text for p in parsed[1:2]] == ["3"]
    assert parsed[2].status_update.status.state == 3
    assert len(parsed) == 3


@pytest.mark.parametrize("case, status", [("none", 401), ("garbage", 401),
                                          ("login jwt", 401), ("other task", 403),
                                          ("deactivated", 403), ("unknown task", 404)])
def test_task_stream__refused_tokens(task, user, organization, case, status):
    from tenancy.tokens import access_token_issue

    other = agent_tasks.task_create(organization=organization, agent="writer", task_id="t-2")
    token = {"none": "", "garbage": "abc", "login jwt": access_token_issue(user),
             "other task": stream_token_issue(user=user, task=other)[0],
             "deactivated": stream_token_issue(user=user, task=task)[0],
             "unknown task": stream_token_issue(user=user, task=task)[0]}[case]
    if case == "deactivated":
        user.is_active = False
        user.save()

    async def scenario():
        stream = open_stream("nope" if case == "unknown task" else "t-1", f"token={token}")
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    assert stream.status == status, stream.body
    assert "error" in json.loads(stream.body)


def test_task_stream__ends_when_its_token_expires(task, user, settings):
    from sessions_app.models import TaskStreamToken

    token, row = stream_token_issue(user=user, task=task)

    async def scenario():
        stream = open_stream("t-1", f"token={token}")
        await stream.wait_for(lambda s: b'"task"' in s.body)
        await db_thread(lambda: TaskStreamToken.objects.filter(pk=row.pk).update(
            expires_at=row.created_at))
        await stream.wait_for(lambda s: s.ended.is_set(), timeout=10)
        return stream

    stream = run(scenario())
    assert b"stream-error" in stream.body  # said why, then ended
