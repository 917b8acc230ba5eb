"""Replay storage for django-eventstream.

The library's DjangoModelStorage deletes expired events inside every ``append_event`` (a
DELETE on the hot path of every publish). Trimming is instead one batch an hour by the beat task
``streaming.tasks.trim_stream_events``; everything else is the library's.
"""

from django_eventstream.storage import DjangoModelStorage


class EventStorage(DjangoModelStorage):
    def trim_event_log(self):
        """No trim on append: see streaming.services.stream_events_trim."""
