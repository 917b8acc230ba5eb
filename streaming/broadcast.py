"""Publishing: the only module that stores and fans out events.

It does what ``django_eventstream.send_event`` does — store the event (its id is the channel's
next), tell the other processes (Redis pub/sub) or this one, and Pushpin — with two changes:
many events are stored with a few statements (:func:`publish_many`), and every Pushpin edge
gets each event on its own (``streaming.grip.grip_publish``: one edge down stops no other).

Services call :func:`publish_on_commit` so that an event goes out only for a transaction that
committed, and never for one that rolled back.
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import partial
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django_eventstream import eventstream
from django_eventstream.storage import get_storage
from django_eventstream.utils import sse_encode_event
from django_eventstream.views import get_listener_manager
from gripcontrol import HttpStreamFormat

from .frames import revoked_frame
from .grip import event_channel, grip_publish
from .hub import BATCH_CHANNEL, hub
from .kinds import Credential, registry

logger = logging.getLogger(__name__)


def publish(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Store and fan out one event now. Failures are logged: the change itself has committed."""
    publish_many([(channel, event_type, data)])


def publish_on_commit(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Publish ``event_type`` on ``channel`` once the current transaction commits."""
    transaction.on_commit(partial(publish, channel, event_type, data))


def publish_many(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Store and fan out several ``(channel, event type, data)`` at once: each channel's
    events are stored together (``EventStorage.append_many``: a handful of queries however
    many events and channels) and then fanned out. Failures are logged (the changes themselves
    have committed; a lost event must not turn a committed write into a 500); several events
    that cannot be stored together are tried one by one. Publishing to Pushpin waits for its
    answer: it must be done before a short-lived process (a command, a Celery task) exits."""
    try:
        stored = store_many(events)
    except Exception:  # noqa: BLE001
        if len(events) == 1:
            logger.exception("could not publish %s on %s", events[0][1], events[0][0])
            return
        logger.exception("could not store %d events together; one by one", len(events))
        for event in events:
            publish_many([event])
        return
    fan_out_many(stored)


def store_many(events: list[tuple[str, str, dict[str, Any]]]) -> list:
    """Store ``(channel, event type, data)`` events for replay, without fanning them out;
    errors propagate. Inside a caller's transaction, the events commit or roll back with
    its other writes; hand the result to :func:`fan_out_many` once it has committed."""
    by_channel: dict[str, list[tuple[str, str]]] = {}
    for channel, event_type, data in events:  # data: a dict, or JSON text of one
        by_channel.setdefault(channel, []).append(
            (event_type, data if isinstance(data, str)
             else json.dumps(data, cls=DjangoJSONEncoder)))
    storage = get_storage()
    if hasattr(storage, "append_many"):
        stored = storage.append_many(by_channel)
    else:  # a storage of the library's own (EVENTSTREAM_STORAGE_CLASS): one at a time
        stored = {channel: [storage.append_event(channel, event_type, data)
                            for event_type, data in items]
                  for channel, items in by_channel.items()}
    return [(channel, event_type, data, event)
            for channel, stored_events in stored.items()
            for event, (event_type, data) in zip(stored_events, by_channel[channel])]


def fan_out_many(stored: list) -> None:
    """Fan out what :func:`store_many` stored (after its transaction committed). With Redis,
    several go as one message on BATCH_CHANNEL (a list of what ``events_channel`` carries one
    by one): one publish however many there are."""
    if eventstream.redis_client and len(stored) > 1:
        try:
            eventstream.redis_client.publish(BATCH_CHANNEL, json.dumps({"events": [
                _redis_item(channel, event_type, data, event)
                for channel, event_type, data, event in stored]}))
        except Exception:  # noqa: BLE001 - stored: streams catch up from storage
            logger.exception("could not fan out %d events", len(stored))
        if settings.GRIP_URLS:
            for channel, event_type, data, event in stored:
                _grip(channel, event_type, data, event)
    else:
        for channel, event_type, data, event in stored:
            _fan_out(channel, event_type, data, event)
    hub.poke()


def _redis_item(channel: str, event_type: str, data: str, event) -> dict:
    """django-eventstream's Redis message for one event."""
    return {"channel": channel, "event_type": event_type, "data": data, "pub_id": str(event.id)}


def _grip(channel: str, event_type: str, data: str, event) -> None:
    """The event to every Pushpin edge, as django-eventstream's GRIP streams expect it: its
    ``id:`` line built by Pushpin's build-id filter (``%I``), and the previous id so an edge
    that missed one asks for it (a recover request)."""
    content = sse_encode_event(event_type, data, event_id="%I", escape=True)
    grip_publish(event_channel(channel), HttpStreamFormat(content, content_filters=["build-id"]),
                 item_id=str(event.id), prev_id=str(event.id - 1))


def _fan_out(channel: str, event_type: str, data: str, event) -> None:
    """What ``send_event`` does with an event it has stored: tell the other processes (Redis)
    or this one's listeners, and every Pushpin edge (GRIP)."""
    try:
        if eventstream.redis_client:
            eventstream.redis_client.publish("events_channel", json.dumps(
                _redis_item(channel, event_type, data, event)))
        else:
            get_listener_manager().add_to_queues(channel, event)
    except Exception:  # noqa: BLE001 - stored: streams catch up from storage
        logger.exception("could not fan out %s on %s", event_type, channel)
    if settings.GRIP_URLS:
        _grip(channel, event_type, data, event)


def publish_many_on_commit(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """:func:`publish_many` once the current transaction commits."""
    if events:
        transaction.on_commit(partial(publish_many, list(events)))


def publish_with_transaction(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Store ``events`` in the current transaction and fan them out once it commits.

    For writes whose streams open with a picture of the state (a task's output so far) and
    the channel's id read in one snapshot: a row and its event must commit together, or an
    opening between the two commits shows the row and then gets its event too (shown
    twice). Storing takes the channels' counter rows' locks until the commit."""
    if events:
        stored = store_many(list(events))
        transaction.on_commit(partial(fan_out_many, stored))


def close_credential_streams(credential: Credential) -> None:
    """End the streams Pushpin holds for ``credential`` (streams this server holds are closed by
    the hub's re-check). Call it after the revocation commits."""
    if not settings.GRIP_URLS:
        return
    # Pushpin drops an item whose id it has recently seen, so each close has ids of its own.
    first, second = f"close-{uuid.uuid4().hex}", f"close-{uuid.uuid4().hex}"
    try:
        error = revoked_frame(registry.revoked_text(credential)).decode()
        grip_publish(credential.grip_channel, HttpStreamFormat(error), item_id=first)
        grip_publish(credential.grip_channel, HttpStreamFormat(close=True), item_id=second,
                     prev_id=first)
    except Exception:  # noqa: BLE001
        logger.exception("could not close Pushpin streams of %s", credential)


def close_credential_streams_on_commit(credential: Credential) -> None:
    """close_credential_streams once the current transaction commits."""
    transaction.on_commit(partial(close_credential_streams, credential))
