"""Reads of agent sessions, always within one organization."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from .envelope import InputError, parse_time
from .models import Conversation, ConversationSource, ConversationStatus, Message

SORTS = {"startedAt": "started_at", "endedAt": "ended_at", "messageCount": "message_count",
         "createdAt": "created_at", "updatedAt": "updated_at"}
MAX_PAGE_SIZE = 100
MAX_MESSAGE_LIMIT = 1000


@dataclass(frozen=True)
class SessionQuery:
    page: int = 1
    limit: int = 20
    status: str | None = None
    source: str | None = None
    agent_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    sort: str = "startedAt"
    order: str = "desc"


def _whole(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(name, "must be a whole number") from None
    if not low <= value <= high:
        raise InputError(name, f"must be from {low} to {high:,}")
    return value


def _one_of(params, name: str, choices) -> str | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw not in choices:
        raise InputError(name, f"must be one of {', '.join(choices)}")
    return raw


def session_query(params) -> SessionQuery:
    """``GET /api/sessions``'s query string, checked; InputError names the parameter."""
    known = {"page", "limit", "status", "source", "agentType", "from", "to", "search", "sort",
             "order"}
    for name in params:
        if name not in known:
            raise InputError(name, f"unknown parameter; known: {', '.join(sorted(known))}")
    return SessionQuery(
        page=_whole(params, "page", 1, 1, 10**6),
        limit=_whole(params, "limit", 20, 1, MAX_PAGE_SIZE),
        status=_one_of(params, "status", ConversationStatus.values),
        source=_one_of(params, "source", ConversationSource.values),
        agent_type=params.get("agentType") or None,
        since=parse_time(params["from"], "from") if params.get("from") else None,
        until=parse_time(params["to"], "to") if params.get("to") else None,
        search=params.get("search") or None,
        sort=_one_of(params, "sort", tuple(SORTS)) or "startedAt",
        order=_one_of(params, "order", ("asc", "desc")) or "desc")


def conversations_for(organization_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.filter(organization_id=organization_id)


def conversation_list(organization_id: int, query: SessionQuery) -> tuple[list, int]:
    """One page of the organization's conversations and how many match in all."""
    conversations = conversations_for(organization_id)
    if query.status:
        conversations = conversations.filter(status=query.status)
    if query.source:
        conversations = conversations.filter(source=query.source)
    if query.agent_type:
        conversations = conversations.filter(
            pk__in=Conversation.objects.filter(participants__agent_type=query.agent_type)
            .values("pk"))
    if query.since:
        conversations = conversations.filter(started_at__gte=query.since)
    if query.until:
        conversations = conversations.filter(started_at__lt=query.until)
    if query.search:
        conversations = conversations.filter(Q(initial_prompt__icontains=query.search)
                                             | Q(client_id__icontains=query.search))
    field = SORTS[query.sort]
    ordering = [f"-{field}", "-id"] if query.order == "desc" else [field, "id"]
    total = conversations.count()
    start = (query.page - 1) * query.limit
    page = list(conversations.order_by(*ordering).prefetch_related("participants")
                [start:start + query.limit])
    return page, total


def conversation_get(organization_id: int, conversation_id) -> Conversation:
    """Ours by id; another organization's is not found (404), as one that does not exist."""
    try:
        return conversations_for(organization_id).prefetch_related("participants").get(
            pk=int(conversation_id))
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("no such session") from None


def _cursor_encode(message: Message) -> str:
    position = [message.sequence_number, message.created_at.isoformat(), message.client_id]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _cursor_decode(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sequence, created, client_id = json.loads(base64.urlsafe_b64decode(padded))
        return int(sequence), datetime.fromisoformat(created), str(client_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InputError("cursor", "is not a cursor this API gave out") from None


def conversation_messages(conversation: Conversation, *, limit: int,
                          cursor: str | None) -> tuple[list[Message], str | None]:
    """Messages in conversation order, ``limit`` at a time after ``cursor``."""
    messages = conversation.messages.order_by("sequence_number", "created_at", "client_id")
    if cursor:
        sequence, created, client_id = _cursor_decode(cursor)
        messages = messages.filter(
            Q(sequence_number__gt=sequence)
            | Q(sequence_number=sequence, created_at__gt=created)
            | Q(sequence_number=sequence, created_at=created, client_id__gt=client_id))
    page = list(messages[:limit + 1])
    if len(page) > limit:
        return page[:limit], _cursor_encode(page[limit - 1])
    return page, None


def message_options(params) -> tuple[bool, int, str | None]:
    """``includeMessages``, ``messageLimit`` and ``cursor`` of ``GET /api/sessions/<id>``."""
    include = params.get("includeMessages", "true")
    if include not in ("true", "false", "1", "0"):
        raise InputError("includeMessages", "must be true or false")
    limit = _whole(params, "messageLimit", 100, 1, MAX_MESSAGE_LIMIT)
    return include in ("true", "1"), limit, params.get("cursor") or None
