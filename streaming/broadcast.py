"""Publishing: the only module that calls ``django_eventstream.send_event``.

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
from django_eventstream import eventstream, send_event
from django_eventstream.storage import get_storage
from django_eventstream.utils import publish_event
from django_eventstream.views import get_listener_manager

from .frames import revoked_frame
from .hub import BATCH_CHANNEL, hub
from .kinds import Credential, registry

logger = logging.getLogger(__name__)


def publish(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Store and fan out one event now. Failures are logged: the change itself has committed."""
    try:
        # Blocking: the GRIP publish to Pushpin must be done before a short-lived process (a
        # manage.py command, a Celery task) exits; django-grip's default is a background thread.
        send_event(channel, event_type, data, async_publish=False)
    except Exception:  # noqa: BLE001 - a lost event must not turn a committed write into a 500
        logger.exception("could not publish %s on %s", event_type, channel)
        return
    hub.poke()  # streams served by this process need not wait for the next poll


def publish_on_commit(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Publish ``event_type`` on ``channel`` once the current transaction commits."""
    transaction.on_commit(partial(publish, channel, event_type, data))


def publish_many(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Store and fan out several ``(channel, event type, data)`` at once: each channel's
    events are stored together (``EventStorage.append_many``: a handful of queries however
    many events and channels) and then fanned out one by one, as ``send_event`` does after
    its own append."""
    try:
        stored = store_many(events)
    except Exception:  # noqa: BLE001 - as publish(): the changes themselves have committed
        logger.exception("could not store %d events together; one by one", len(events))
        for channel, event_type, data in events:
            publish(channel, event_type, data)
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
    stored = get_storage().append_many(by_channel)
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
        if settings.GRIP_URL:
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
    try:  # the library encodes the GRIP item even with no proxy
        publish_event(channel, event_type, data, str(event.id), str(event.id - 1),
                      blocking=True)
    except Exception:  # noqa: BLE001
        logger.exception("could not publish %s on %s to Pushpin", event_type, channel)


def _fan_out(channel: str, event_type: str, data: str, event) -> None:
    """What ``send_event`` does with an event it has stored: tell the other processes (Redis)
    or this one's listeners, and Pushpin (GRIP)."""
    try:
        if eventstream.redis_client:
            eventstream.redis_client.publish("events_channel", json.dumps(
                _redis_item(channel, event_type, data, event)))
        else:
            get_listener_manager().add_to_queues(channel, event)
    except Exception:  # noqa: BLE001 - stored: streams catch up from storage
        logger.exception("could not fan out %s on %s", event_type, channel)
    if settings.GRIP_URL:
        _grip(channel, event_type, data, event)


def publish_many_on_commit(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """:func:`publish_many` once the current transaction commits."""
    if events:
        transaction.on_commit(partial(publish_many, list(events)))


def close_credential_streams(credential: Credential) -> None:
    """End the streams Pushpin holds for ``credential`` (streams this server holds are closed by
    the hub's re-check). Call it after the revocation commits."""
    if not settings.GRIP_URL:
        return
    from django_grip import publish as grip_publish
    from gripcontrol import HttpStreamFormat

    # Pushpin drops an item whose id it has recently seen, so each close has ids of its own.
    first, second = f"close-{uuid.uuid4().hex}", f"close-{uuid.uuid4().hex}"
    try:
        error = revoked_frame(registry.revoked_text(credential)).decode()
        grip_publish(credential.grip_channel, HttpStreamFormat(error), id=first, blocking=True)
        grip_publish(credential.grip_channel, HttpStreamFormat(close=True), id=second,
                     prev_id=first, blocking=True)
    except Exception:  # noqa: BLE001
        logger.exception("could not close Pushpin streams of %s", credential)


def close_credential_streams_on_commit(credential: Credential) -> None:
    """close_credential_streams once the current transaction commits."""
    transaction.on_commit(partial(close_credential_streams, credential))
