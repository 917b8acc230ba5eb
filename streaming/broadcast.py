"""Publishing: the only module that calls ``django_eventstream.send_event``.

Services call :func:`publish_on_commit` so that an event goes out only for a transaction that
committed, and never for one that rolled back.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django_eventstream import send_event

from .hub import hub

logger = logging.getLogger(__name__)


def publish(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Store and fan out one event now. Failures are logged: the change itself has committed."""
    try:
        send_event(channel, event_type, data)
    except Exception:  # noqa: BLE001 - a lost event must not turn a committed write into a 500
        logger.exception("could not publish %s on %s", event_type, channel)
        return
    hub.poke()  # streams served by this process need not wait for the next poll


def publish_on_commit(channel: str, event_type: str, data: dict[str, Any]) -> None:
    """Publish ``event_type`` on ``channel`` once the current transaction commits."""
    transaction.on_commit(partial(publish, channel, event_type, data))
