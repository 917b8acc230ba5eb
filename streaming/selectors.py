"""Reads of the stored events (django-eventstream's tables); all sync, run on the stream pool."""

from __future__ import annotations

import json

from django.db import connection
from django_eventstream.models import Event, EventCounter

from .frames import StreamEvent


def read_events(channel: str, after: int, upto: int | None = None, limit: int = 1000):
    """Stored events of ``channel`` with ids in (after, upto], oldest first."""
    rows = Event.objects.filter(channel=channel, eid__gt=after).exclude(type="")
    if upto is not None:
        rows = rows.filter(eid__lte=upto)
    return [StreamEvent(channel, eid, event_type, json.loads(data))
            for eid, event_type, data in rows.order_by("eid").values_list(
                "eid", "type", "data")[:limit]]


def latest_events(channel: str, upto: int, limit: int) -> list[tuple[StreamEvent, object]]:
    """The newest ``limit`` stored events of ``channel`` with ids up to ``upto``, oldest
    first, each with when it was stored: ``(event, created)``."""
    rows = (Event.objects.filter(channel=channel, eid__lte=upto).exclude(type="")
            .order_by("-eid").values_list("eid", "type", "data", "created")[:limit])
    return [(StreamEvent(channel, eid, event_type, json.loads(data)), created)
            for eid, event_type, data, created in reversed(rows)]


def read_events_many(ranges: dict[str, tuple[int, int]], limit: int = 5000):
    """Stored events of several channels at once, each with ids in its (after, upto], in
    channel then id order; at most ``limit`` in all (ask again for the rest). One statement
    written out here: the ORM spends longer building a 200-way OR than the database answers
    it (each term is a range of the (channel, eid) unique index)."""
    if not ranges:
        return []
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    channel, eid, kind, data = (quote(c) for c in ("channel", "eid", "type", "data"))
    where = " OR ".join([f"({channel} = %s AND {eid} > %s AND {eid} <= %s)"] * len(ranges))
    params = [value for name, (after, upto) in ranges.items() for value in (name, after, upto)]
    sql = (f"SELECT {channel}, {eid}, {kind}, {data} FROM {table} WHERE ({where}) "
           f"AND {kind} <> '' ORDER BY {channel}, {eid} LIMIT {int(limit)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [StreamEvent(name, number, event_type, json.loads(text))
            for name, number, event_type, text in rows]


def events_missed(channel: str, after: int, upto: int, *, accepts=None,
                  latest_only: bool = False) -> list[StreamEvent]:
    """What a stream current at ``after`` has missed up to ``upto``: the events it accepts, or
    only the newest of them for a stream whose every event means "refetch"."""
    events = read_events(channel, after, upto, limit=100_000)
    if accepts is not None:
        events = [event for event in events if accepts(event)]
    return events[-1:] if latest_only else events


def current_ids(channels) -> dict[str, int]:
    """The current (last) event id of each channel."""
    found = dict(EventCounter.objects.filter(name__in=list(channels))
                 .values_list("name", "value"))
    return {channel: found.get(channel, 0) for channel in channels}


def current_id(channel: str) -> int:
    return current_ids([channel])[channel]


def counters_changed_since(since) -> list[tuple[str, int]]:
    """(channel, current id) of the channels that stored an event since ``since``."""
    return list(EventCounter.objects.filter(updated__gte=since).values_list("name", "value"))


def replayable(channel: str, after: int, current: int) -> bool:
    """Whether every event after ``after`` up to ``current`` is still stored."""
    if after < 0 or after > current:
        return False
    if after == current:
        return True
    oldest = (Event.objects.filter(channel=channel, eid__gt=0).exclude(type="")
              .order_by("eid").values_list("eid", flat=True).first())
    return oldest is not None and oldest <= after + 1
