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

from django.core.exceptions import ValidationError

from streaming.broadcast import publish_many
from tenancy.models import Organization

from .channels import company_channel

KNOWN_TYPES = ("metric_updated", "sroi_updated", "vis_updated", "journey_flag_updated")
TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_DATA_BYTES = 64 * 1024
MAX_BATCH = 500


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


def update_checked(update, where: str = "") -> tuple[str, str, dict]:
    """``(companyId, type, data)`` of one update, or ValidationError naming the field
    (``where`` prefixes it in a batch: ``events[3].type``)."""
    if not isinstance(update, dict):
        _fail(where or "body", "must be a JSON object")
    company, kind, data = update.get("companyId"), update.get("type"), update.get("data")
    if not isinstance(company, str) or not company:
        _fail(f"{where}companyId", "is required: the organization's slug")
    if not isinstance(kind, str) or not TYPE_PATTERN.match(kind):
        _fail(f"{where}type", "must be 1 to 64 letters, digits or _ . -")
    if not isinstance(data, dict):
        _fail(f"{where}data", "must be a JSON object")
    if len(json.dumps(data)) > MAX_DATA_BYTES:
        _fail(f"{where}data", f"must be at most {MAX_DATA_BYTES // 1024} KB of JSON")
    return company, kind, data


def company_updates_publish(organization: Organization, updates) -> int:
    """Store and fan out ``(type, data)`` updates of one organization; returns how many."""
    channel = company_channel(organization.pk)
    events = [(channel, kind, {**data, "companyId": organization.slug})
              for kind, data in updates]
    if events:
        publish_many(events)
    return len(events)
