"""Publishing company updates from outside (HTTP, the NATS bridge): checked, then stored and
fanned out on the company's channel in one go.

An update is ``{companyId, type, data}``. ``type`` is any name of letters, digits, ``_ . -``
(the dashboards know ``metric_updated``, ``sroi_updated``, ``vis_updated``,
``journey_flag_updated``; others pass through); ``data`` is a JSON object, sent as published
with ``companyId`` added.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from streaming.broadcast import fan_out_many, publish_many, store_many
from streaming.rows import rows_insert
from tenancy.models import Organization

from .channels import company_channel
from .models import BridgeMessage

KNOWN_TYPES = ("metric_updated", "sroi_updated", "vis_updated", "journey_flag_updated")
TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_DATA_BYTES = 64 * 1024
MAX_BATCH = 500


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


def update_checked(update, where: str = "", size: int | None = None) -> tuple[str, str, dict]:
    """``(companyId, type, data)`` of one update, or ValidationError naming the field
    (``where`` prefixes it in a batch: ``events[3].type``). ``size``: the length of ``data``'s
    JSON when the caller has it (the bridge: the message's own bytes)."""
    if not isinstance(update, dict):
        _fail(where or "body", "must be a JSON object")
    company, kind, data = update.get("companyId"), update.get("type"), update.get("data")
    if not isinstance(company, str) or not company:
        _fail(f"{where}companyId", "is required: the organization's slug")
    if not isinstance(kind, str) or not TYPE_PATTERN.match(kind):
        _fail(f"{where}type", "must be 1 to 64 letters, digits or _ . -")
    if not isinstance(data, dict):
        _fail(f"{where}data", "must be a JSON object")
    if (len(json.dumps(data)) if size is None else size) > MAX_DATA_BYTES:
        _fail(f"{where}data", f"must be at most {MAX_DATA_BYTES // 1024} KB of JSON")
    return company, kind, data


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for n, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > n
        if n >= len(tokens) or (token != "*" and token != tokens[n]):
            return False
    return len(tokens) == len(wanted)


def event_type_mapping() -> list[tuple[str, str]]:
    """NATS_EVENT_TYPES as ``(subject pattern, event type)``, in order."""
    pairs = []
    for item in settings.NATS_EVENT_TYPES:
        pattern, _, kind = item.partition("=")
        if pattern.strip() and kind.strip():
            pairs.append((pattern.strip(), kind.strip()))
    return pairs


def event_type_for(subject: str, mapping=None) -> str | None:
    """The event type a NATS subject (or a published ``type`` written as one, such as
    ``metrics.calculated``) maps to; None when no pattern matches. ``mapping``: the
    :func:`event_type_mapping` to use (read from settings when not given)."""
    for pattern, kind in mapping if mapping is not None else event_type_mapping():
        if subject_matches(pattern, subject):
            return kind
    return None


def _events(organization: Organization, updates) -> list:
    """``(channel, type, data)`` to store; ``data`` a dict gets the company's slug as
    ``companyId``, JSON text (the bridge's messages) is stored as it is: it carries
    ``companyId`` already, since that is how the bridge found the company."""
    channel = company_channel(organization.pk)
    return [(channel, kind, data if isinstance(data, str)
             else {**data, "companyId": organization.slug}) for kind, data in updates]


def company_updates_publish(organization: Organization, updates) -> int:
    """Store and fan out ``(type, data)`` updates of one organization; returns how many."""
    events = _events(organization, updates)
    if events:
        publish_many(events)
    return len(events)


def bridged_updates_store(consumer: str, updates) -> int:
    """Store what the NATS bridge brought in and fan it out: ``updates`` are
    ``(stream sequence, organization, type, data)``. Messages ``consumer`` stored before (a
    redelivery, in any order) are skipped; the ones stored are recorded in the same
    transaction as their events. Errors propagate: the bridge then does not acknowledge, and
    JetStream delivers again. Returns how many were stored."""
    if not updates:
        return 0
    with transaction.atomic():
        sequences = [update[0] for update in updates]
        seen = set(BridgeMessage.objects.filter(name=consumer, sequence__in=sequences)
                   .values_list("sequence", flat=True))
        fresh, taken = [], set()
        for update in updates:
            if update[0] not in seen and update[0] not in taken:
                taken.add(update[0])
                fresh.append(update)
        if not fresh:
            return 0
        now = timezone.now()
        rows_insert(BridgeMessage, ["name", "sequence", "stored_at"],
                    [[consumer, update[0], now] for update in fresh])
        events = [event for _, organization, kind, data in fresh
                  for event in _events(organization, [(kind, data)])]
        stored = store_many(events)
    fan_out_many(stored)
    return len(fresh)


def bridged_messages_trim(consumer: str) -> int:
    """Forget stored messages older than the stream keeps them (they cannot come again)."""
    before = timezone.now() - timedelta(hours=settings.STREAM_EVENT_RETENTION_HOURS + 1)
    return BridgeMessage.objects.filter(name=consumer, stored_at__lt=before).delete()[0]
