"""Writes of agent sessions: live events from agent CLIs, and whole uploaded sessions.

Live events arrive out of order and more than once (the CLI sends each message from its own
goroutine and retries 5xx). Every event is recorded under a key that is the same for each copy
(:mod:`sessions_app.envelope`); a copy gets the first one's answer with ``duplicate: true`` and
changes nothing. Whatever the order, the stored conversation ends up the same:

* a message (or the end) of a conversation not seen yet creates it as a placeholder, which
  ``conversation.started`` fills in; until then it starts at its earliest message;
* participants come from ``started``; an agent only seen in messages is added from them, and
  a message's agent name fills a name ``started`` left out;
* the status is the end's (completed / interrupted) once it came, else ``error`` once an error
  came, else ``active``: a late message or error never reopens a finished conversation;
* messages are ordered by sequence number, then time.

Each change is published on the organization's sessions channel after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from streaming.broadcast import publish_many_on_commit, publish_on_commit
from streaming.rows import rows_insert
from tenancy.models import APIKey, Organization

from . import envelope
from .channels import sessions_channel
from .envelope import COMPLETED, ERROR, MESSAGE, STARTED, Event, InputError
from .ingest_writer import IngestWriter
from .models import (
    Conversation,
    ConversationSource,
    ConversationStatus,
    IngestEvent,
    Message,
    Participant,
)
from .serializers import conversation_summary, iso

MAX_UPLOAD_MESSAGES = 10_000


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


def ingest_event(*, api_key: APIKey, event: Event) -> Answer:
    """Record and apply one live event; a repeat gets the first answer again.

    With ``INGEST_GROUP_COMMIT`` (the default) the event joins the events other requests of
    this process are handing in at the same moment, and one writer commits them together
    (:mod:`sessions_app.ingest_writer`); the answer still comes only after the commit.
    """
    if settings.INGEST_GROUP_COMMIT:
        return writer.submit(api_key, event)
    try:
        with transaction.atomic():
            return event_apply(api_key, event)
    except IntegrityError:
        return event_first_answer(api_key, event)


def event_apply(api_key: APIKey, event: Event) -> Answer:
    """Apply one event and record it with its answer; IntegrityError if it was recorded
    before (the caller's transaction or savepoint is then rolled back)."""
    if event.type == MESSAGE:  # messages have one code path, alone or in a batch
        answer = messages_apply([(api_key, event)])[0]
        if answer is None:
            raise IntegrityError(f"event {event.key!r} was recorded before")
        return answer
    organization = api_key.organization
    conversation, answer = _APPLY[event.type](organization, event)
    # Recorded last: the unique key turns a copy away (and undoes what it did).
    IngestEvent.objects.create(
        organization=organization, api_key=api_key, event_key=event.key, type=event.type,
        timestamp=event.timestamp, data=event.data, conversation=conversation,
        status_code=answer.status, answer=answer.body)
    return answer


def event_first_answer(api_key: APIKey, event: Event) -> Answer:
    """The answer the first copy of ``event`` got, marked as a duplicate."""
    first = IngestEvent.objects.filter(organization_id=api_key.organization_id,
                                       event_key=event.key).first()
    if first is None:
        raise RuntimeError(f"event {event.key!r} conflicted but was never recorded")
    return Answer(first.status_code, {**first.answer, "duplicate": True})


def conversations_locked(items: list[tuple[APIKey, Event]]) -> dict[tuple[int, str], int]:
    """Take the rows of every conversation ``items`` name, in one order, before anything else.

    Each server process has its own writer, and every event of a batch updates its
    conversation's row. Two writers that took the same rows in their events' order waited on
    each other until PostgreSQL's deadlock check (1 s) undid one (docs/BENCHMARKS.md). Here
    the conversations not there yet are made first as placeholders, in the order of their
    client ids (a writer making one another has just made waits for it), then all are locked
    in id order: a second writer waits its turn instead. The events then find them all there,
    as they would after an earlier event of the same conversation. Returns their ids by
    (organization id, client id).
    """
    first_seen: dict[tuple[int, str], datetime] = {}
    for api_key, event in items:
        if event.conversation_id is not None:
            name = (api_key.organization_id, event.conversation_id)
            first_seen[name] = min(first_seen.get(name, event.timestamp), event.timestamp)
    if not first_seen:
        return {}
    named: dict[int, list[str]] = {}
    for organization_id, client_id in sorted(first_seen):
        named.setdefault(organization_id, []).append(client_id)
    wanted = Q()
    for organization_id, client_ids in named.items():
        wanted |= Q(organization_id=organization_id, client_id__in=client_ids)
    stream = Conversation.objects.filter(wanted, source=ConversationSource.STREAM)
    present = set(stream.values_list("organization_id", "client_id"))
    Conversation.objects.bulk_create([
        Conversation(organization_id=organization_id, source=ConversationSource.STREAM,
                     client_id=client_id, placeholder=True, started_at=at)
        for (organization_id, client_id), at in sorted(first_seen.items())
        if (organization_id, client_id) not in present], ignore_conflicts=True)
    return {(organization_id, client_id): pk for pk, organization_id, client_id in
            stream.select_for_update().order_by("pk").values_list(
                "pk", "organization_id", "client_id")}


writer = IngestWriter(event_apply, event_first_answer, lock=conversations_locked,
                      batched=lambda event: event.type == MESSAGE,
                      apply_many=lambda items, locked: messages_apply(items, locked))


def _conversation(organization: Organization, event: Event) -> Conversation:
    """The conversation an event belongs to, created as a placeholder if it is new."""
    conversation, _ = Conversation.objects.get_or_create(
        organization=organization, source=ConversationSource.STREAM,
        client_id=event.conversation_id,
        defaults={"placeholder": True, "started_at": event.timestamp})
    return conversation


def _touch(conversation: Conversation, **changes) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now(), **changes)


def _apply_started(organization: Organization, event: Event):
    data = event.data
    fields = {"mode": data["mode"], "initial_prompt": data["initial_prompt"],
              "max_turns": data["max_turns"], "system_info": data["system_info"],
              "command": data["command"], "placeholder": False,
              "started_at": event.timestamp}
    conversation, created = Conversation.objects.get_or_create(
        organization=organization, source=ConversationSource.STREAM,
        client_id=event.conversation_id, defaults=fields)
    if not created:
        _touch(conversation, **fields)
    for position, item in enumerate(data["participants"]):
        given = {name: value for name, value in item.items()
                 if name != "agent_id" and value not in ("", None)}
        participant, made = Participant.objects.get_or_create(
            conversation=conversation, agent_id=item["agent_id"],
            defaults={**given, "position": position})
        if not made:
            Participant.objects.filter(pk=participant.pk).update(**given, position=position)
    conversation.refresh_from_db()
    publish_on_commit(sessions_channel(organization.pk), STARTED,
                      conversation_summary(conversation, participants=True))
    return conversation, Answer(201, {"conversation_id": event.conversation_id})


_NULLABLE = {"turn_number", "tokens_used", "input_tokens", "output_tokens", "cost",
             "duration_ms"}


def _apply_completed(organization: Organization, event: Event):
    data = event.data
    conversation = _conversation(organization, event)
    _touch(conversation, status=data["status"], ended_at=event.timestamp,
           summary=data["summary"], **{name: data[name] for name in (
               "total_messages", "total_turns", "total_tokens", "total_cost",
               "duration_seconds")})
    conversation.refresh_from_db()
    publish_on_commit(sessions_channel(organization.pk), COMPLETED,
                      conversation_summary(conversation))
    return conversation, Answer(200, {"conversation_id": event.conversation_id,
                                      "status": data["status"]})


def _apply_error(organization: Organization, event: Event):
    data = event.data
    _conversation(organization, event)
    conversation = Conversation.objects.select_for_update().get(
        organization=organization, source=ConversationSource.STREAM,
        client_id=event.conversation_id)
    entry = {"timestamp": event.timestamp.isoformat().replace("+00:00", "Z"),
             "error_message": data["error_message"], "error_type": data["error_type"],
             "agent_type": data["agent_type"]}
    errors = sorted([*conversation.errors, entry],
                    key=lambda e: (e["timestamp"], e["error_message"]))
    status = conversation.status if conversation.finished else ConversationStatus.ERROR
    _touch(conversation, errors=errors, status=status)
    publish_on_commit(sessions_channel(organization.pk), ERROR,
                      {"conversation_id": event.conversation_id, "id": conversation.pk,
                       **entry})
    return conversation, Answer(200, {"conversation_id": event.conversation_id,
                                      "status": status})


def _apply_bridge(organization: Organization, event: Event):
    return None, Answer(200, {"ok": True, "type": event.type})


_APPLY = {STARTED: _apply_started, COMPLETED: _apply_completed,
          ERROR: _apply_error, "bridge.connected": _apply_bridge, "bridge.test": _apply_bridge}


# --- uploads --------------------------------------------------------------------------------

UPLOAD_STATUSES = tuple(ConversationStatus.values)


def _upload_time(fields: envelope.Fields, name: str, required: bool) -> datetime | None:
    value = fields.data.get(name)
    if value is None:
        if required:
            raise InputError(fields.at(name), "is required")
        return None
    return envelope.parse_time(value, fields.at(name))


def parse_upload(body) -> dict:
    """Check a whole session; raises InputError naming the first bad field."""
    body = envelope.snake_keys(body)
    top = envelope.Fields(body, "")
    metadata = envelope.Fields(top.obj("metadata") or {}, "metadata")
    if body.get("metadata") is None:
        raise InputError("metadata", "is required")
    session = {
        "client_id": metadata.ident("original_id"),
        "mode": metadata.text("mode", max_length=50),
        "initial_prompt": envelope.message_content(metadata, "initial_prompt"),
        "status": metadata.choice("status", UPLOAD_STATUSES, default="completed"),
        "max_turns": metadata.count("max_turns"),
        "started_at": _upload_time(metadata, "started_at", True),
        "ended_at": _upload_time(metadata, "ended_at", False),
        "summary": metadata.obj("summary"),
        "system_info": metadata.obj("system_info"),
        **envelope.totals(metadata),
    }
    people = envelope.participants(top, required=True)
    if not people:
        raise InputError("participants", "must name at least one participant")
    agents = {person["agent_id"] for person in people}
    messages = []
    seen_ids = set()
    for index, item in enumerate(top.items("messages", required=True,
                                           max_items=MAX_UPLOAD_MESSAGES)):
        fields = envelope.Fields(item, f"messages.{index}")
        if "message_id" not in item:
            item = {**item, "message_id": f"{index:05d}"}
            fields = envelope.Fields(item, f"messages.{index}")
        message = envelope.message_fields(fields)
        message["created_at"] = _upload_time(fields, "timestamp", True)
        if message["agent_id"] not in agents:
            raise InputError(f"messages.{index}.agent_id",
                             f"{message['agent_id']!r} is not one of the participants")
        if message["message_id"] in seen_ids:
            raise InputError(f"messages.{index}.message_id",
                             f"{message['message_id']!r} is used twice")
        seen_ids.add(message["message_id"])
        messages.append(message)
    return {"session": session, "participants": people, "messages": messages}


def session_upload(*, api_key: APIKey, upload: dict) -> Answer:
    """Store a whole checked session in one transaction; the same originalId again answers 200
    with the stored one."""
    organization = api_key.organization
    session = upload["session"]
    existing = Conversation.objects.filter(organization=organization,
                                           source=ConversationSource.UPLOAD,
                                           client_id=session["client_id"]).first()
    if existing is not None:
        return Answer(200, {"id": existing.pk, "conversation_id": existing.client_id,
                            "duplicate": True})
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                organization=organization, source=ConversationSource.UPLOAD,
                message_count=len(upload["messages"]), **session)
            Participant.objects.bulk_create([
                Participant(conversation=conversation, position=position, **person)
                for position, person in enumerate(upload["participants"])])
            _message_rows_insert([(conversation.pk, message)
                                  for message in upload["messages"]])
            publish_on_commit(sessions_channel(organization.pk), "conversation.uploaded",
                              conversation_summary(conversation))
    except IntegrityError:  # the same upload, concurrently
        existing = Conversation.objects.get(organization=organization,
                                            source=ConversationSource.UPLOAD,
                                            client_id=session["client_id"])
        return Answer(200, {"id": existing.pk, "conversation_id": existing.client_id,
                            "duplicate": True})
    return Answer(201, {"id": conversation.pk, "conversation_id": conversation.client_id,
                        "messages": len(upload["messages"])})


_MESSAGE_COLUMNS = ["agent_id", "agent_type", "agent_name", "content", "sequence_number",
                    "turn_number", "tokens_used", "input_tokens", "output_tokens", "cost",
                    "model", "duration_ms", "created_at"]


def _message_rows_insert(rows_in: list[tuple[int, dict]]) -> None:
    """Insert checked messages, ``(conversation id, message)`` each."""
    now = timezone.now()
    rows_insert(Message, ["conversation_id", "client_id", *_MESSAGE_COLUMNS, "received_at"], [
        [conversation_id, message["message_id"],
         *(message[column] if message[column] is not None or column in _NULLABLE else ""
           for column in _MESSAGE_COLUMNS), now]
        for conversation_id, message in rows_in])


def messages_apply(items: list[tuple[APIKey, Event]],
                   locked: dict[tuple[int, str], int] | None = None) -> list[Answer | None]:
    """Apply many ``message.created`` events at once, as the ingest writer batches them: the
    same result as applying each with event_apply, in a handful of statements. A copy of an
    event already recorded (or earlier in ``items``) answers None: the caller answers it with
    the first copy's answer after the commit. IntegrityError if another process recorded one
    of them meanwhile (the caller then applies them one by one). ``locked``: the ids of
    conversations the caller has locked (conversations_locked), not looked up again."""
    answers: list[Answer | None] = [None] * len(items)
    by_organization: dict[int, list[int]] = {}
    for index, (api_key, _) in enumerate(items):
        by_organization.setdefault(api_key.organization_id, []).append(index)
    for organization_id, indexes in by_organization.items():
        known = set(IngestEvent.objects.filter(
            organization_id=organization_id,
            event_key__in=[items[i][1].key for i in indexes]).values_list("event_key",
                                                                        flat=True))
        fresh = []
        for i in indexes:
            if items[i][1].key not in known:
                known.add(items[i][1].key)
                fresh.append(i)
        if fresh:
            _messages_apply_fresh(organization_id, [items[i] for i in fresh], locked or {})
            for i in fresh:
                data = items[i][1].data
                answers[i] = Answer(201, {"message_id": data["message_id"],
                                          "conversation_id": data["conversation_id"]})
    return answers


def _messages_apply_fresh(organization_id: int, items: list[tuple[APIKey, Event]],
                          locked: dict[tuple[int, str], int]) -> None:
    events = [event for _, event in items]
    first_seen: dict[str, datetime] = {}
    for event in events:
        cid = event.conversation_id
        first_seen[cid] = min(first_seen.get(cid, event.timestamp), event.timestamp)
    stream = Conversation.objects.filter(organization_id=organization_id,
                                         source=ConversationSource.STREAM)
    if any((organization_id, cid) not in locked for cid in first_seen):
        locked = conversations_locked(items)  # applied alone: found or made here
    ids = {cid: locked[organization_id, cid] for cid in first_seen}
    _message_rows_insert([(ids[e.conversation_id], {**e.data, "created_at": e.timestamp})
                          for e in events])
    # The conversation rows first, then participants: the lock order of every event.
    now = timezone.now()
    counts: dict[str, int] = {}
    for event in events:
        counts[event.conversation_id] = counts.get(event.conversation_id, 0) + 1
    for cid, count in counts.items():  # a placeholder starts at its earliest message
        earlier = Q(placeholder=True) & (Q(started_at__isnull=True)
                                         | Q(started_at__gt=first_seen[cid]))
        stream.filter(pk=ids[cid]).update(
            updated_at=now, message_count=F("message_count") + count,
            started_at=Case(When(earlier, then=Value(first_seen[cid])),
                            default=F("started_at")))
    agents: dict[tuple[int, str], dict] = {}  # (conversation, agent) → type and a name
    for event in events:
        seen = agents.setdefault((ids[event.conversation_id], event.data["agent_id"]),
                                 {"agent_type": event.data["agent_type"], "name": ""})
        seen["name"] = seen["name"] or event.data["agent_name"]
    present = set(Participant.objects.filter(
        conversation_id__in={pk for pk, _ in agents},
        agent_id__in={agent for _, agent in agents}).values_list("conversation_id", "agent_id"))
    Participant.objects.bulk_create([
        Participant(conversation_id=pk, agent_id=agent, position=1000, **seen)
        for (pk, agent), seen in agents.items() if (pk, agent) not in present],
        ignore_conflicts=True)
    for (pk, agent), seen in agents.items():
        if seen["name"] and (pk, agent) in present:
            Participant.objects.filter(conversation_id=pk, agent_id=agent, name="").update(
                name=seen["name"])
    rows_insert(IngestEvent, ["organization_id", "api_key_id", "event_key", "type", "timestamp",
                               "data", "conversation_id", "status_code", "answer",
                               "received_at"], [
        [organization_id, api_key.pk, event.key, event.type, event.timestamp, event.data,
         ids[event.conversation_id], 201, {"message_id": event.data["message_id"],
                                           "conversation_id": event.conversation_id}, now]
        for api_key, event in items])
    channel = sessions_channel(organization_id)
    publish_many_on_commit([
        (channel, MESSAGE, {"conversation_id": event.conversation_id,
                            "id": ids[event.conversation_id],
                            **{name: value for name, value in event.data.items()
                               if name != "conversation_id"},
                            "timestamp": iso(event.timestamp)})
        for event in events])
