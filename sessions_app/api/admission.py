"""What every sessions endpoint checks before it does anything, for the Django views and the
ASGI ingest path alike: the key and its scope, the body's size and JSON, the rate. A check that
fails raises :class:`Refused`, which each front end turns into the same JSON answer."""

from __future__ import annotations

import json

from tenancy.models import APIKey
from tenancy.rate_limits import rate_limit_hit

from ..envelope import COMPLETED, Event, InputError, parse_event


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None,
                 **extra):
        super().__init__(detail)
        self.status = status
        self.body = {"error": code, "detail": detail, **extra}
        self.headers = headers or {}


def field_refused(error: InputError) -> Refused:
    return Refused(400, "validation_error", str(error), fields={error.field: [error.message]})


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None for anything else."""
    parts = (authorization or "").split()
    return parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else None


def bearer_key(authorization: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``; Refused (401) when the header is missing."""
    if not (authorization or "").strip():
        raise Refused(401, "not_authenticated",
                      "send an organization API key: Authorization: Bearer ap_live_…")
    return bearer_token(authorization)


def require_scope(api_key: APIKey | None, scope: str) -> APIKey:
    if api_key is None:
        raise Refused(401, "invalid_api_key", "the API key is unknown, revoked or expired")
    if scope not in api_key.scopes:
        raise Refused(403, "insufficient_scope", f"this key does not have the {scope!r} scope",
                      scope=scope)
    return api_key


def too_large(limit: int) -> Refused:
    return Refused(413, "payload_too_large", f"the request body is larger than {limit:,} bytes",
                   fields={"body": [f"at most {limit:,} bytes"]})


def parse_json(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "parse_error", f"body is not valid JSON: {exc}",
                      fields={"body": ["not valid JSON"]}) from None


def rate_limit(api_key: APIKey, scope: str, per_minute: int) -> None:
    retry_after = rate_limit_hit(scope, api_key.pk, per_minute)
    if retry_after is not None:
        raise Refused(429, "rate_limited",
                      f"more than {per_minute} {scope} requests a minute with this key",
                      headers={"Retry-After": str(retry_after)})


def json_object(body) -> dict:
    """``body`` if it is a JSON object; Refused (400) otherwise."""
    if not isinstance(body, dict):
        raise Refused(400, "validation_error", "body: must be a JSON object",
                      fields={"body": ["must be a JSON object"]})
    return body


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
