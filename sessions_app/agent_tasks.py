"""Writes and reads of agent-to-agent tasks: an application hands work to an agent; the agent
posts chunks, progress and the end; followers poll or stream the messages.

Messages are numbered per task (``sequence``), kept ``TASK_MESSAGE_TTL_MINUTES`` and then pruned
(``task_messages_prune``, every 15 minutes from beat); reads never return expired ones. Every
message's event is stored in the same transaction (a stream opening sees both or neither) and
fanned out after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from streaming.broadcast import publish_with_transaction
from streaming.rows import rows_insert, rows_update

from .models import TERMINAL_TASK_STATES, Task, TaskMessage, TaskMessageKind, TaskState

TASK_PREFIX = "task-"
MAX_CONTENT = 100 * 1024
KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
KINDS = frozenset(TaskMessageKind.values)
CHUNK, WORKING = str(TaskMessageKind.CHUNK.value), str(TaskState.WORKING.value)
# What a message moves the task to (None: no change, but a submitted task starts working).
STATE_AFTER = {TaskMessageKind.CHUNK: None, TaskMessageKind.PROGRESS: None,
               TaskMessageKind.STATUS: None, TaskMessageKind.COMPLETE: TaskState.COMPLETED,
               TaskMessageKind.ERROR: TaskState.FAILED}


class TaskConflict(Exception):
    """The task is in a state that does not allow this (answered 409)."""


def task_channel(task: Task) -> str:
    return f"{TASK_PREFIX}{task.pk}"


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


def _identifier(value, field: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            _fail(field, "is required")
        return None
    if not isinstance(value, str) or not value or len(value) > 200 or \
            not set(value) <= KEY_CHARS:
        _fail(field, "must be 1 to 200 letters, digits or - _ . :")
    return value


def message_body(message: TaskMessage) -> dict:
    return {"sequence": message.sequence, "kind": message.kind, "content": message.content,
            "progress": message.progress, "metadata": message.metadata,
            "createdAt": message.created_at.isoformat().replace("+00:00", "Z")}


def stream_payload(task: Task, message: TaskMessage, append: bool = False) -> dict:
    """What a message publishes on the task's channel: the message, the task's state after
    it, and what the A2A frames need (sessions_app.task_streams renders them)."""
    return {**message_body(message), "state": task.state, "taskId": task.task_id,
            "contextId": task.context_id, "append": append,
            "expires": message.expires_at.timestamp()}


def task_body(task: Task) -> dict:
    return {"id": task.task_id, "contextId": task.context_id, "agent": task.agent,
            "organization": task.organization.slug, "state": task.state,
            "lastSequence": task.last_sequence, "input": task.input,
            "createdAt": task.created_at.isoformat().replace("+00:00", "Z"),
            "updatedAt": task.updated_at.isoformat().replace("+00:00", "Z")}


@transaction.atomic
def task_create(*, organization, agent: str, task_id=None, context_id=None, input=None,
                created_by=None) -> Task:
    _identifier(agent, "agent", required=True)
    task_id = _identifier(task_id, "id") or uuid.uuid4().hex
    context_id = _identifier(context_id, "contextId") or uuid.uuid4().hex
    if input is not None and not isinstance(input, dict):
        _fail("input", "must be an object")
    try:
        with transaction.atomic():
            return Task.objects.create(organization=organization, agent=agent,
                                       task_id=task_id, context_id=context_id,
                                       input=input or {}, created_by=created_by)
    except IntegrityError:
        raise TaskConflict(f"task {task_id!r} exists for agent {agent!r}") from None


def _message_checked(kind, content, progress, metadata) -> None:
    if kind not in KINDS:
        _fail("kind", f"must be one of {', '.join(TaskMessageKind.values)}")
    if not isinstance(content, str):
        _fail("content", "must be a string")
    if len(content.encode()) > MAX_CONTENT:
        _fail("content", f"must be at most {MAX_CONTENT // 1024} KB")
    if progress is not None and (isinstance(progress, bool) or
                                 not isinstance(progress, (int, float)) or
                                 not 0 <= progress <= 100):
        _fail("progress", "must be a number from 0 to 100")
    if metadata is not None and not isinstance(metadata, dict):
        _fail("metadata", "must be an object")


@transaction.atomic
def task_message_post(*, task: Task, kind, content="", progress=None,
                      metadata=None) -> PostedMessage:
    """Append one message (the agent's side); the task follows: working, then completed or
    failed. A finished task takes no more messages (TaskConflict)."""
    [message] = task_messages_post([(task, kind, content, progress, metadata)])
    task.refresh_from_db()
    return message


@dataclass(slots=True)
class PostedMessage:
    """A message as ``task_messages_post`` wrote it (what ``message_body`` reads)."""

    task_id: int
    sequence: int
    kind: str
    content: str
    progress: float | None
    metadata: dict
    created_at: datetime
    expires_at: datetime


@dataclass(slots=True)
class _LockedTask:
    pk: int
    task_id: str
    context_id: str
    state: str
    last_sequence: int
    has_chunk: bool


@transaction.atomic
def task_messages_post(items) -> list[PostedMessage]:
    """Append ``(task, kind, content, progress, metadata)`` messages, to one task or several,
    in one transaction: the tasks locked together, their messages inserted and their events
    stored with a few statements whatever their number (an agent gateway relaying many tasks'
    output, the task benchmark). All or nothing: a finished task refuses the whole batch."""
    for _task, kind, content, progress, metadata in items:
        _message_checked(kind, content, progress, metadata)
    pks = sorted({task.pk for task, *_ in items})
    locked = {row[0]: _LockedTask(*row) for row in Task.objects.select_for_update()
              .filter(pk__in=pks).order_by("pk").annotate(has_chunk=Exists(
                  TaskMessage.objects.filter(task=OuterRef("pk"), kind=TaskMessageKind.CHUNK)))
              .values_list("pk", "task_id", "context_id", "state", "last_sequence", "has_chunk")}
    now = timezone.now()
    expires = now + timedelta(minutes=settings.TASK_MESSAGE_TTL_MINUTES)
    messages, events = [], []
    for task, kind, content, progress, metadata in items:
        task = locked[task.pk]
        if task.state in TERMINAL_TASK_STATES:  # finished before, or earlier in this batch
            raise TaskConflict(f"the task is {task.state}; it takes no more messages")
        appends = kind == CHUNK and task.has_chunk
        task.has_chunk = task.has_chunk or kind == CHUNK
        task.last_sequence += 1
        task.state = STATE_AFTER[kind] or WORKING
        message = PostedMessage(task.pk, task.last_sequence, kind, content, progress,
                                metadata or {}, now, expires)
        messages.append(message)
        events.append((f"{TASK_PREFIX}{task.pk}", kind,
                       stream_payload(task, message, append=appends)))
    rows_update(Task, ["last_sequence", "state", "updated_at"],
                [[t.pk, t.last_sequence, t.state, now] for t in locked.values()])
    rows_insert(TaskMessage, ["task_id", "sequence", "kind", "content", "progress", "metadata",
                              "created_at", "expires_at"],
                [[m.task_id, m.sequence, m.kind, m.content, m.progress, m.metadata,
                  m.created_at, m.expires_at] for m in messages])
    # Stored with the messages: a stream opening between the two commits would show a
    # message in the task's output and then again as its event.
    publish_with_transaction(events)
    return messages


@transaction.atomic
def task_cancel(*, task: Task) -> Task:
    """Canceled, with a status message saying so (streams end on it)."""
    locked = Task.objects.select_for_update().get(pk=task.pk)
    if locked.state in TERMINAL_TASK_STATES:
        raise TaskConflict(f"the task is {locked.state} already")
    now = timezone.now()
    locked.last_sequence += 1
    locked.state = TaskState.CANCELED
    locked.updated_at = now
    locked.save(update_fields=["last_sequence", "state", "updated_at"])
    message = TaskMessage.objects.create(
        task=locked, sequence=locked.last_sequence, kind=TaskMessageKind.STATUS,
        content="canceled", metadata={"state": TaskState.CANCELED}, created_at=now,
        expires_at=now + timedelta(minutes=settings.TASK_MESSAGE_TTL_MINUTES))
    publish_with_transaction([(task_channel(locked), TaskMessageKind.STATUS,
                               stream_payload(locked, message))])
    return locked


def task_messages_after(task: Task, after: int, limit: int = 500) -> list[TaskMessage]:
    """The task's messages after ``after``, oldest first; expired ones are never returned."""
    return list(task.messages.filter(sequence__gt=after, expires_at__gt=timezone.now())
                .order_by("sequence")[:limit])


def task_messages_prune() -> int:
    """Delete expired task messages; returns how many."""
    deleted, _ = TaskMessage.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
