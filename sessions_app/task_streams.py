"""The task streams: a task's messages as A2A v1.0 ``StreamResponse`` frames.

* ``GET /agent-to-agent/<org>/<agent>/tasks/<id>/stream?token=`` — for browsers (EventSource);
* ``POST|GET …/tasks/<id>:subscribe`` — the A2A REST binding's ``SubscribeToTask``, for A2A
  clients (the stream token in ``Authorization: Bearer`` or ``?token=``).

Both send the task first (``{"task": …}``), then ``{"artifactUpdate": …}`` for each chunk of
output and ``{"statusUpdate": …}`` for progress and state changes (``TASK_STATE_*``), and end
after a terminal state. Every frame has an ``id:`` (``task-<n>:<sequence>``); a resumed stream
gets the task again and then what followed its ``Last-Event-ID``. Expired messages are never
sent. The stream ends when its token expires or its user loses access (the client fetches a new
token and resumes). Frames carry exactly A2A's fields, and no other SSE events: A2A clients
read every frame as a StreamResponse. Registered in ``SessionsAppConfig.ready()``.
"""

from __future__ import annotations

import json
import time

from django.utils import timezone
from django_eventstream.utils import make_id

from streaming.kinds import Credential, CredentialKind, NotCached, StreamDenied, StreamKind, \
    StreamPlan
from streaming.db import consistent_reads
from streaming.selectors import current_id

from .agent_tasks import TASK_PREFIX, task_channel
from .api.admission import bearer_token
from .models import TERMINAL_TASK_STATES, Task, TaskMessage, TaskMessageKind
from .stream_tokens import TokenRefused, stream_token_check, stream_tokens_ended

TASK_TOKEN_CREDENTIAL = "taskstreamtoken"


def a2a_state(state: str) -> str:
    return f"TASK_STATE_{state.upper()}"


def _agent_message(task_id: str, context_id: str, ident: str, text: str) -> dict:
    return {"messageId": ident, "contextId": context_id, "taskId": task_id,
            "role": "ROLE_AGENT", "parts": [{"text": text}]}


def a2a_task(task: Task, messages: list[TaskMessage]) -> dict:
    """The task as A2A's Task: its status, and its output so far as one artifact."""
    chunks = "".join(m.content for m in messages if m.kind == TaskMessageKind.CHUNK)
    body = {"id": task.task_id, "contextId": task.context_id,
            "status": {"state": a2a_state(task.state),
                       "timestamp": task.updated_at.isoformat().replace("+00:00", "Z")}}
    if chunks:
        body["artifacts"] = [{"artifactId": "output", "parts": [{"text": chunks}]}]
    return body


def a2a_frame(payload: dict) -> dict:
    """One message (as published by sessions_app.agent_tasks) as a StreamResponse."""
    ids = {"taskId": payload["taskId"], "contextId": payload["contextId"]}
    if payload["kind"] == TaskMessageKind.CHUNK:
        return {"artifactUpdate": {**ids, "artifact": {
            "artifactId": "output", "parts": [{"text": payload["content"]}]},
            "append": payload["append"], "lastChunk": False}}
    status = {"state": a2a_state(payload["state"]), "timestamp": payload["createdAt"]}
    text = payload["content"] or (f"{payload['progress']:g}%" if payload["progress"] is not None
                                  else "")
    if text:
        status["message"] = _agent_message(payload["taskId"], payload["contextId"],
                                           f"{payload['taskId']}-{payload['sequence']}", text)
    update = {**ids, "status": status}
    metadata = {**payload["metadata"]}
    if payload["progress"] is not None:
        metadata["progress"] = payload["progress"]
    if metadata:
        update["metadata"] = metadata
    return {"statusUpdate": update}


def sse(data: dict, event_id: str) -> bytes:
    return f"id: {event_id}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def render(event) -> bytes:
    return sse(a2a_frame(event.payload), event.sse_id)


class TaskTokenCredential(CredentialKind):
    name = TASK_TOKEN_CREDENTIAL
    revoked_text = "the stream token expired or its user lost access: get a new token"

    def revoked(self, ids) -> set[int]:
        return stream_tokens_ended(ids)


class TaskStream(StreamKind):
    """A task's progress, output and end, as A2A StreamResponse frames (stream token)."""

    name = "task"
    path = "/agent-to-agent/{org}/{agent}/tasks/{task}/stream"
    channel_prefix = TASK_PREFIX
    open_frame = b":\n"  # a comment: A2A clients take every data frame for a StreamResponse
    opening_on_resume = True
    render = staticmethod(render)
    openapi_query = {"token": "a stream token from POST …/tasks/<id>/stream-token"}

    def token_of(self, request) -> str | None:
        return request.query.get("token")

    def authorize(self, request, *, cached_only=False):
        if cached_only:
            raise NotCached
        params = request.params
        task = Task.objects.select_related("organization").filter(
            organization__slug=params.get("org"), agent=params.get("agent"),
            task_id=params.get("task")).first()
        if task is None:
            raise StreamDenied(404, "not_found", "no such task")
        try:
            token = stream_token_check(self.token_of(request), task)
        except TokenRefused as refused:
            raise StreamDenied(refused.status, refused.code, refused.detail) from None

        def accepts(event) -> bool:  # an expired message is never sent, replayed or not
            return event.payload.get("expires", float("inf")) > time.time()

        return StreamPlan(task_channel(task), credential=Credential(TASK_TOKEN_CREDENTIAL,
                                                                    token.pk),
                          accepts=accepts, context=task)

    def opening(self, plan):
        # The channel's id and the task as of one snapshot: a chunk committed meanwhile comes
        # by the stream after the task, never in both (a page appending it showed it twice).
        with consistent_reads():
            current = current_id(plan.channel)
            task = Task.objects.get(pk=plan.context.pk)
            messages = list(task.messages.filter(kind=TaskMessageKind.CHUNK,
                                                 expires_at__gt=timezone.now()).order_by("sequence"))
        plan.finished = task.state in TERMINAL_TASK_STATES
        frame = sse({"task": a2a_task(task, messages)}, make_id({plan.channel: current}))
        return [frame], current

    def ends_after(self, event) -> bool:
        return event.payload.get("state") in TERMINAL_TASK_STATES


class TaskSubscribe(TaskStream):
    """A2A SubscribeToTask (REST binding): the same frames, for A2A clients."""

    name = "task-subscribe"
    path = "/agent-to-agent/{org}/{agent}/tasks/{task}:subscribe"
    methods = ("POST", "GET", "HEAD")
    openapi_query = {"token": "a stream token (or send it as Authorization: Bearer)"}

    def token_of(self, request) -> str | None:
        return bearer_token(request.header("authorization")) or request.query.get("token")


STREAM_KINDS = [TaskStream(), TaskSubscribe()]
task_token_credential_kind = TaskTokenCredential()
