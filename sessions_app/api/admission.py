"""What every sessions endpoint checks before it does anything, for the Django views and the
ASGI ingest path alike: the key and its scope, the body's size and JSON, the rate. A check that
fails raises :class:`Refused`, which each front end turns into the same JSON answer."""

from __future__ import annotations

from tenancy.api.admission import (  # noqa: F401 - the sessions endpoints' checks, from one place
    Refused,
    bearer_key,
    bearer_token,
    json_object,
    parse_json,
    rate_limit,
    read_json,
    require_scope,
    too_large,
)
from tenancy.models import APIKey

from ..envelope import COMPLETED, Event, InputError, parse_event


def field_refused(error: InputError) -> Refused:
    return Refused(400, "validation_error", str(error), fields={error.field: [error.message]})


def ingest_event_checked(body, api_key: APIKey, per_minute: int) -> Event:
    """The event of an ingest body, checked, and counted against the key's rate (never the
    end of a conversation: the CLI does not retry a 4xx)."""
    json_object(body)
    try:
        event = parse_event(body)
    except InputError as error:
        raise field_refused(error) from None
    if event.type != COMPLETED:
        rate_limit(api_key, "ingest", per_minute)
    return event
