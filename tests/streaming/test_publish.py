"""streaming.broadcast.publish with a storage of django-eventstream's own (no batch append):
events are still stored, in order, and reach the streams."""

import pytest
from django_eventstream.models import Event

from streaming.broadcast import publish


@pytest.mark.django_db(transaction=True)
def test_publish__library_storage_without_batches__stored_one_at_a_time(settings):
    settings.EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
    publish("environment-78", "flag_updated", {"flagKey": "a"})
    publish("environment-78", "flag_updated", {"flagKey": "b"})
    stored = Event.objects.filter(channel="environment-78", eid__gt=0).order_by("eid")
    assert [(e.eid, e.type) for e in stored] == [(1, "flag_updated"), (2, "flag_updated")]
    assert 'flagKey' in stored[1].data and 'b' in stored[1].data
