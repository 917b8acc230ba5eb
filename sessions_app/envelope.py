"""What agent CLIs send, checked and put in one shape.

The AgentPipe CLI's bridge posts ``{"type", "timestamp", "data"}`` with snake_case fields and
leaves out fields that are zero or empty. The older documented shape (camelCase fields,
``conversation.interrupted``, ``error.occurred``) is read as the same events. Every problem is
a :class:`InputError` naming the field (``data.participants.1.agent_id``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

MAX_MESSAGE_BYTES = 100 * 1024
MAX_ID_LENGTH = 200

STARTED, MESSAGE, COMPLETED, ERROR = ("conversation.started", "message.created",
                                      "conversation.completed", "conversation.error")
BRIDGE_TYPES = ("bridge.connected", "bridge.test")
TYPES = (STARTED, MESSAGE, COMPLETED, ERROR, *BRIDGE_TYPES)
ALIASES = {"conversation.interrupted": COMPLETED, "error.occurred": ERROR}
FINISH_STATUSES = ("completed", "interrupted")


class InputError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@lru_cache(maxsize=4096)  # the same few dozen names arrive in every event
def _snake(key: str) -> str:
    return _CAMEL.sub(r"_\1", key).lower()


def snake_keys(value: Any) -> Any:
    """``{"conversationId": …}`` → ``{"conversation_id": …}``, in nested objects and lists too."""
    if isinstance(value, dict):
        return {_snake(key) if isinstance(key, str) else key: snake_keys(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [snake_keys(item) for item in value]
    return value


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 time with its offset (``Z`` or ``±hh:mm``), 0 to 9 fractional digits."""
    if not isinstance(value, str):
        raise InputError(field, "must be an RFC 3339 time such as 2026-11-23T10:00:00.123Z")
    text = value.strip()
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise InputError(field, "must be an RFC 3339 time with its offset, e.g. "
                                "2026-11-23T10:00:00.123Z")
    whole, fraction, offset = match.groups()
    fraction = (fraction or "")[:7]  # microseconds: Python keeps 6 digits
    try:
        return datetime.fromisoformat(whole + fraction + ("+00:00" if offset in "Zz" else offset))
    except ValueError as exc:
        raise InputError(field, f"is not a valid time ({exc})") from None


class Fields:
    """Typed reads of one JSON object, each failure naming ``<path>.<name>``."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise InputError(path, "must be an object")
        self.data = data
        self.path = path

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def text(self, name: str, *, required: bool = False, max_length: int = 10_000,
             empty: bool = True) -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InputError(self.at(name), "is required")
            return ""
        if not isinstance(value, str):
            raise InputError(self.at(name), "must be a string")
        if not value and not empty:
            raise InputError(self.at(name), "must not be empty")
        if len(value) > max_length:
            raise InputError(self.at(name), f"must be at most {max_length:,} characters")
        return value

    def ident(self, name: str, required: bool = True) -> str:
        return self.text(name, required=required, max_length=MAX_ID_LENGTH, empty=not required)

    def count(self, name: str) -> int | None:
        """A whole number ≥ 0, or None when left out (the CLI leaves zeros out)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**53:
            raise InputError(self.at(name), "must be a whole number ≥ 0")
        return value

    def amount(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise InputError(self.at(name), "must be a number ≥ 0")
        return float(value)

    def obj(self, name: str) -> dict | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InputError(self.at(name), "must be an object")
        return value

    def items(self, name: str, *, required: bool = False, max_items: int = 1000) -> list:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InputError(self.at(name), "is required")
            return []
        if not isinstance(value, list):
            raise InputError(self.at(name), "must be a list")
        if len(value) > max_items:
            raise InputError(self.at(name), f"at most {max_items:,} items")
        return value

    def choice(self, name: str, choices, *, default=None) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            return default
        if value not in choices:
            raise InputError(self.at(name), f"must be one of {', '.join(choices)}")
        return value


def message_content(fields: Fields, name: str = "content") -> str:
    content = fields.text(name, max_length=MAX_MESSAGE_BYTES)
    if len(content.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise InputError(fields.at(name), f"must be at most {MAX_MESSAGE_BYTES // 1024} KB")
    return content


def participant(item: Any, path: str) -> dict:
    fields = Fields(item, path)
    return {"agent_id": fields.ident("agent_id"),
            "agent_type": fields.text("agent_type", max_length=100),
            "model": fields.text("model", max_length=200),
            "name": fields.text("name", max_length=200),
            "prompt": fields.text("prompt", max_length=MAX_MESSAGE_BYTES),
            "cli_version": fields.text("cli_version", max_length=100)}


def participants(fields: Fields, name: str = "participants", *, required: bool = False,
                 max_items: int = 100) -> list[dict]:
    found = [participant(item, f"{fields.at(name)}.{index}")
             for index, item in enumerate(fields.items(name, required=required,
                                                       max_items=max_items))]
    seen = set()
    for index, item in enumerate(found):
        if item["agent_id"] in seen:
            raise InputError(f"{fields.at(name)}.{index}.agent_id",
                             f"agent {item['agent_id']!r} is listed twice")
        seen.add(item["agent_id"])
    return found


def message_fields(fields: Fields, *, id_name: str = "message_id") -> dict:
    return {"message_id": fields.ident(id_name),
            "agent_id": fields.ident("agent_id"),
            "agent_type": fields.text("agent_type", max_length=100),
            "agent_name": fields.text("agent_name", max_length=200),
            "content": message_content(fields),
            "sequence_number": fields.count("sequence_number") or 0,
            "turn_number": fields.count("turn_number"),
            "tokens_used": fields.count("tokens_used"),
            "input_tokens": fields.count("input_tokens"),
            "output_tokens": fields.count("output_tokens"),
            "cost": fields.amount("cost"),
            "model": fields.text("model", max_length=200),
            "duration_ms": fields.count("duration_ms")}


def totals(fields: Fields) -> dict:
    return {"total_messages": fields.count("total_messages"),
            "total_turns": fields.count("total_turns"),
            "total_tokens": fields.count("total_tokens"),
            "total_cost": fields.amount("total_cost"),
            "duration_seconds": fields.amount("duration_seconds")}


@dataclass(frozen=True)
class Event:
    type: str
    timestamp: datetime
    data: dict  # checked and normalized (snake_case, defaults filled)
    key: str  # the same for every copy of the same event: how repeats are recognised
    conversation_id: str | None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:24]


def parse_event(body: Any) -> Event:
    """Check one envelope; raises InputError naming the first bad field."""
    envelope = Fields(body, "")
    raw_type = envelope.text("type", required=True, max_length=50)
    event_type = ALIASES.get(raw_type, raw_type)
    if event_type not in TYPES:
        raise InputError("type", f"unknown event type {raw_type!r}; one of "
                                 f"{', '.join(TYPES + tuple(ALIASES))}")
    timestamp = parse_time(body.get("timestamp"), "timestamp")
    data = Fields(snake_keys(envelope.obj("data") or {}), "data")
    if body.get("data") is None:
        raise InputError("data", "is required")

    if event_type in BRIDGE_TYPES:
        checked = {"message": data.text("message"), "system_info": data.obj("system_info"),
                   "connected_at": data.text("connected_at", max_length=50)}
        return Event(event_type, timestamp, checked,
                     f"{event_type}:{_digest([body.get('timestamp'), data.data])}", None)

    conversation_id = data.ident("conversation_id")
    if event_type == STARTED:
        command = data.obj("command")
        if command is not None:
            Fields(command, "data.command").text("full_command", max_length=MAX_MESSAGE_BYTES)
        checked = {"conversation_id": conversation_id,
                   "mode": data.text("mode", max_length=50),
                   "initial_prompt": message_content(data, "initial_prompt"),
                   "max_turns": data.count("max_turns"),
                   "participants": participants(data),
                   "system_info": data.obj("system_info"),
                   "command": command}
        key = f"started:{conversation_id}"
    elif event_type == MESSAGE:
        checked = {"conversation_id": conversation_id, **message_fields(data)}
        key = f"message:{conversation_id}:{checked['message_id']}"
    elif event_type == COMPLETED:
        status = "interrupted" if raw_type == "conversation.interrupted" else \
            data.choice("status", FINISH_STATUSES, default="completed")
        summary = data.obj("summary")
        if summary is not None:
            summary_fields = Fields(summary, "data.summary")
            summary = {"short_text": summary_fields.text("short_text"),
                       "text": summary_fields.text("text", max_length=MAX_MESSAGE_BYTES),
                       "agent_type": summary_fields.text("agent_type", max_length=100),
                       "model": summary_fields.text("model", max_length=200),
                       "input_tokens": summary_fields.count("input_tokens"),
                       "output_tokens": summary_fields.count("output_tokens"),
                       "total_tokens": summary_fields.count("total_tokens"),
                       "cost": summary_fields.amount("cost"),
                       "duration_ms": summary_fields.count("duration_ms")}
        checked = {"conversation_id": conversation_id, "status": status, **totals(data),
                   "summary": summary}
        key = f"completed:{conversation_id}"
    else:  # ERROR
        message = data.text("error_message", max_length=MAX_MESSAGE_BYTES) or \
            data.text("message", max_length=MAX_MESSAGE_BYTES)
        checked = {"conversation_id": conversation_id, "error_message": message,
                   "error_type": data.text("error_type", max_length=50) or "unknown",
                   "agent_type": data.text("agent_type", max_length=100)}
        key = f"error:{conversation_id}:{_digest([body.get('timestamp'), message])}"
    return Event(event_type, timestamp, checked, key, conversation_id)
