"""Reads for the live company dashboard."""

from __future__ import annotations

import json

from streaming.selectors import current_id, latest_events
from tenancy.models import Organization

from .channels import company_channel

RECENT_UPDATES = 500


def company_recent_updates(organization: Organization, limit: int = RECENT_UPDATES) -> dict:
    """The newest ``limit`` stored updates of ``organization`` (oldest first) as
    ``{"updates": [{id, type, data, at}], "lastEventId": "<channel>:<n>"}``; a stream opened
    from ``lastEventId`` carries on exactly after them."""
    channel = company_channel(organization.pk)
    last = current_id(channel)  # read first: what is stored after it comes by the stream
    updates = [{"id": f"{channel}:{event.id}", "type": event.type,
                "data": json.loads(event.data), "at": created.timestamp()}
               for event, created in latest_events(channel, last, limit)]
    return {"updates": updates, "lastEventId": f"{channel}:{last}"}
