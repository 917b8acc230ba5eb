"""Replay storage for django-eventstream.

The library's DjangoModelStorage deletes expired events inside every ``append_event`` (a
DELETE on the hot path of every publish). Trimming is instead one batch an hour by the beat task
``streaming.tasks.trim_stream_events``; everything else is the library's.
"""

import json

from django_eventstream.storage import DjangoModelStorage


class EventStorage(DjangoModelStorage):
    def trim_event_log(self):
        """No trim on append: see streaming.services.stream_events_trim."""

    def append_events(self, channel: str, items: list[tuple[str, str]]) -> list:
        """Store ``(event type, JSON text)`` items on ``channel`` at once: one counter update
        and one bulk insert, where the library's ``append_event`` pays four queries each.
        Returns the library's Event objects, ids allocated in order."""
        from django.db import transaction
        from django_eventstream.event import Event as StreamEvent
        from django_eventstream.models import Event, EventCounter

        with transaction.atomic():
            counter = EventCounter.get_or_create(channel)
            counter = EventCounter.objects.select_for_update().get(id=counter.id)
            first = counter.value
            rows = [Event(channel=channel)] if first == 0 else []  # the library's id-0 row
            # Stored as the library stores them: the JSON text, JSON-encoded once more.
            rows += [Event(channel=channel, type=event_type, data=json.dumps(data),
                           eid=first + n) for n, (event_type, data) in enumerate(items, 1)]
            Event.objects.bulk_create(rows)
            counter.value = first + len(items)
            counter.save()
        return [StreamEvent(channel, event_type, data, id=first + n)
                for n, (event_type, data) in enumerate(items, 1)]
