"""Reads for the live company dashboard."""

from __future__ import annotations

import json

from django_eventstream.models import Event

from streaming.selectors import current_id
from tenancy.models import Organization

from .channels import company_channel

RECENT_UPDATES = 500


def company_recent_updates(organization: Organization, limit: int = RECENT_UPDATES) -> dict:
    """The newest ``limit`` stored updates of ``organization`` (oldest first) as
    ``{"updates": [{id, type, data, at}], "lastEventId": "<channel>:<n>"}``; a stream opened
    from ``lastEventId`` carries on exactly after them."""
    channel = company_channel(organization.pk)
    last = current_id(channel)  # read first: what is stored after it comes by the stream
    rows = (Event.objects.filter(channel=channel, eid__lte=last).exclude(type="")
            .order_by("-eid").values_list("eid", "type", "data", "created")[:limit])
    updates = [{"id": f"{channel}:{eid}", "type": kind,
                # Stored as django-eventstream stores it: JSON text, JSON-encoded once more.
                "data": json.loads(json.loads(data)),
                "at": created.timestamp()} for eid, kind, data, created in reversed(rows)]
    return {"updates": updates, "lastEventId": f"{channel}:{last}"}
