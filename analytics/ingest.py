"""Reading an SDK's analytics batch: every item checked, every timestamp read, so that a batch
is stored whole or refused naming the item and field (``evaluations[3].flagKey``).

``POST /api/sdk/events`` body::

    {"payloadId": "…",                                   (or the X-Payload-Id header)
     "evaluations": [{"flagKey", "variant", "reason"?, "contextId"?, "value"?, "timestamp",
                      "count"?}],
     "summaries": [{"startDate", "endDate", "flags": {"<key>": {"<variant>": count}}}],
     "events": [{"name", "contextId"?, "value"?, "details"?, "timestamp"}]}

(``summary``, one object, is taken as ``summaries`` of one.) Field names follow OpenFeature's
evaluation telemetry (flag key, variant, reason, context id) and Tracking API (name, value,
details). Timestamps are ISO 8601 (with a zone, or UTC) or milliseconds since the epoch, no
older than ANALYTICS_RAW_RETENTION_DAYS and at most an hour ahead.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-/]{1,200}$")
REASON_PATTERN = re.compile(r"^[A-Z_]{1,40}$")
MAX_TEXT = 200
MAX_COUNT = 10**9
KNOWN_BODY = {"payloadId", "evaluations", "summaries", "summary", "events"}


class BadItem(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class TooMany(BadItem):
    """More items than ANALYTICS_MAX_ITEMS (413)."""


@dataclass
class Batch:
    """What a request carries, read and checked: rows ready to store."""

    evaluations: list = field(default_factory=list)  # (flag, variant, reason, ctx, n, value, ts)
    events: list = field(default_factory=list)  # (name, ctx, value, details, ts)
    single_evaluations: int = 0  # the evaluations sent one by one (the rest: summaries' rows)
    summary_counts: int = 0

    @property
    def items(self) -> int:
        return len(self.evaluations) + len(self.events)


def timestamp_window():
    now = timezone.now()
    return (now - datetime.timedelta(days=settings.ANALYTICS_RAW_RETENTION_DAYS),
            now + datetime.timedelta(hours=1))


def _at(where: str, name: str) -> str:
    """A field's name in an answer: ``events[2].value``, or ``value`` at the top."""
    return f"{where}.{name}" if where else name


def timestamp_read(value, where: str, window) -> datetime.datetime:
    if isinstance(value, bool) or value is None:
        raise BadItem(where, "is required: ISO 8601 or milliseconds since the epoch")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise BadItem(where, "must be a finite number of milliseconds")
        try:
            stamp = datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            raise BadItem(where, "is out of range") from None
    elif isinstance(value, str):
        try:
            stamp = parse_datetime(value)
        except ValueError:
            stamp = None
        if stamp is None:
            raise BadItem(where, "must be ISO 8601 (2026-11-23T12:00:00Z) or milliseconds")
        if timezone.is_naive(stamp):
            stamp = stamp.replace(tzinfo=datetime.UTC)
    else:
        raise BadItem(where, "must be ISO 8601 or milliseconds since the epoch")
    oldest, newest = window
    if stamp < oldest:
        raise BadItem(where, f"is older than {settings.ANALYTICS_RAW_RETENTION_DAYS} days")
    if stamp > newest:
        raise BadItem(where, "is more than an hour in the future")
    return stamp


def _text(item: dict, name: str, where: str, *, required: bool, pattern=None) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise BadItem(_at(where, name), "is required")
        return ""
    if not isinstance(value, str):
        raise BadItem(_at(where, name), "must be a string")
    if len(value) > MAX_TEXT:
        raise BadItem(_at(where, name), f"must be at most {MAX_TEXT} characters")
    if pattern is not None and not pattern.match(value):
        raise BadItem(_at(where, name), "has characters other than letters, digits and "
                                         "_ . : - /" if pattern is KEY_PATTERN else
                      "must be an OpenFeature reason: capitals and _ (TARGETING_MATCH)")
    return value


def _context_id(item: dict, where: str) -> str:
    value = item.get("contextId")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # numeric user ids are common
        item = {**item, "contextId": value}
    return _text(item, "contextId", where, required=False)


def _unknown(item: dict, known: set, where: str) -> None:
    extra = sorted(set(item) - known)
    if extra:
        raise BadItem(_at(where, extra[0]), "unknown field")


def _list(body: dict, name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise BadItem(name, "must be a list")
    return value


EVALUATION_FIELDS = {"flagKey", "variant", "reason", "contextId", "value", "timestamp", "count"}
SUMMARY_FIELDS = {"startDate", "endDate", "flags"}
EVENT_FIELDS = {"name", "contextId", "value", "details", "timestamp"}


def evaluation_read(item, where: str, window) -> tuple:
    if not isinstance(item, dict):
        raise BadItem(where, "must be an object")
    _unknown(item, EVALUATION_FIELDS, where)
    count = item.get("count", 1)  # the same evaluation n times (an SDK counting per context)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise BadItem(_at(where, "count"), f"must be a whole number from 1 to {MAX_COUNT:,}")
    return (_text(item, "flagKey", where, required=True, pattern=KEY_PATTERN),
            _text(item, "variant", where, required=True),
            _text(item, "reason", where, required=False, pattern=REASON_PATTERN) or "UNKNOWN",
            _context_id(item, where), count, item.get("value"),
            timestamp_read(item.get("timestamp"), _at(where, "timestamp"), window))


STAMP_KEYS = (str, int, float)  # timestamps a batch remembers once read (hashable, not bool)


def _evaluation_quick(item, stamps: dict):
    """The row of a well-formed evaluation, read with as little work as can be (thousands a
    request); None when anything is unusual, and ``evaluation_read`` then reads it in full
    and names what is wrong. ``stamps`` remembers the timestamps already read."""
    if type(item) is not dict or not item.keys() <= EVALUATION_FIELDS:
        return None
    flag, variant = item.get("flagKey"), item.get("variant")
    reason, context = item.get("reason"), item.get("contextId")
    count, raw = item.get("count", 1), item.get("timestamp")
    stamp = stamps.get(raw) if type(raw) in STAMP_KEYS else None
    if (stamp is None or type(flag) is not str or not KEY_PATTERN.match(flag)
            or type(variant) is not str or not 0 < len(variant) <= MAX_TEXT
            or type(count) is not int or not 1 <= count <= MAX_COUNT):
        return None
    if not reason:
        reason = "UNKNOWN"
    elif type(reason) is not str or not REASON_PATTERN.match(reason):
        return None
    if context is None:
        context = ""
    elif type(context) is not str or len(context) > MAX_TEXT:
        return None
    return (flag, variant, reason, context, count, item.get("value"), stamp)


def summary_read(item, where: str, window) -> list[tuple]:
    if not isinstance(item, dict):
        raise BadItem(where, "must be an object")
    _unknown(item, SUMMARY_FIELDS, where)
    start = timestamp_read(item.get("startDate"), _at(where, "startDate"), window)
    end = timestamp_read(item.get("endDate"), _at(where, "endDate"), window)
    if end < start:
        raise BadItem(_at(where, "endDate"), "is before startDate")
    flags = item.get("flags")
    if not isinstance(flags, dict) or not flags:
        raise BadItem(_at(where, "flags"), "must be an object of {flagKey: {variant: count}}")
    rows = []
    for key, variants in flags.items():
        if not KEY_PATTERN.match(key):
            raise BadItem(f"{where}.flags.{key[:50]}", "is not a flag key")
        if not isinstance(variants, dict) or not variants:
            raise BadItem(f"{where}.flags.{key}", "must be an object of {variant: count}")
        for variant, count in variants.items():
            spot = f"{where}.flags.{key}.{variant[:50]}"
            if not variant or len(variant) > MAX_TEXT:
                raise BadItem(spot, f"a variant is 1 to {MAX_TEXT} characters")
            if isinstance(count, bool) or not isinstance(count, int) \
                    or not 1 <= count <= MAX_COUNT:
                raise BadItem(spot, f"must be a whole number from 1 to {MAX_COUNT:,}")
            rows.append((key, variant, "SUMMARY", "", count, None, start))
    return rows


def event_read(item, where: str, window, *, timestamp_default=None) -> tuple:
    if not isinstance(item, dict):
        raise BadItem(where, "must be an object")
    _unknown(item, EVENT_FIELDS, where)
    value = item.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value)):
        raise BadItem(_at(where, "value"), "must be a finite number")
    details = item.get("details")
    if details is not None and not isinstance(details, dict):
        raise BadItem(_at(where, "details"), "must be an object")
    raw_stamp = item.get("timestamp")
    stamp = (timestamp_default if raw_stamp is None and timestamp_default is not None
             else timestamp_read(raw_stamp, _at(where, "timestamp"), window))
    return (_text(item, "name", where, required=True, pattern=KEY_PATTERN),
            _context_id(item, where), None if value is None else float(value), details, stamp)


def batch_read(body: dict) -> Batch:
    """The checked rows of an events body; BadItem naming the first bad field."""
    unknown = sorted(set(body) - KNOWN_BODY)
    if unknown:
        raise BadItem(unknown[0], "unknown field")
    window, batch = timestamp_window(), Batch()
    stamps: dict = {}
    for n, item in enumerate(_list(body, "evaluations")):
        row = _evaluation_quick(item, stamps)
        if row is None:
            row = evaluation_read(item, f"evaluations[{n}]", window)  # an object, then
            if type(item.get("timestamp")) in STAMP_KEYS:
                stamps[item["timestamp"]] = row[6]
        batch.evaluations.append(row)
    batch.single_evaluations = sum(row[4] for row in batch.evaluations)
    summaries = _list(body, "summaries")
    if "summary" in body:
        summaries = [body["summary"], *summaries]
    for n, item in enumerate(summaries):
        where = "summary" if "summary" in body and n == 0 else \
            f"summaries[{n - ('summary' in body)}]"
        rows = summary_read(item, where, window)
        batch.evaluations += rows
        batch.summary_counts += sum(row[4] for row in rows)
    for n, item in enumerate(_list(body, "events")):
        batch.events.append(event_read(item, f"events[{n}]", window))
    if not batch.items:
        raise BadItem("body", "has no evaluations, summaries or events")
    if batch.items > settings.ANALYTICS_MAX_ITEMS:
        raise TooMany("body", f"has {batch.items:,} items; at most "
                              f"{settings.ANALYTICS_MAX_ITEMS:,} a request")
    return batch


def payload_id_read(header: str | None, body: dict) -> str | None:
    value = header if header is not None else body.get("payloadId")
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 100 \
            or not value.isprintable():
        raise BadItem("payloadId", "must be 1 to 100 printable characters")
    return value
