"""Finding the environment key in an SDK request, for Django views and raw ASGI streams alike.

Accepted: ``Authorization: Bearer <key>``, ``Authorization: <key>``, ``X-API-Key: <key>``, and
for browsers' EventSource (which cannot set headers) a *client* key in ``?sdkKey=``. Server keys
are secrets and are refused in URLs, where proxies and browsers would record them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping

from streaming.kinds import NotCached

from .models import SDKKey, SDKKeyKind, sdk_key_hash
from .selectors import sdk_key_authenticate


class SDKAuthError(Exception):
    """Why a request could not be authenticated; ``status`` is 401 or 403."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class RawKey:
    value: str
    from_query: bool


def raw_key_from(header: Callable[[str], str | None], query: Mapping[str, str]) -> RawKey | None:
    """The presented key, from ``header(name)`` (case-insensitive names) or the query string."""
    authorization = (header("authorization") or "").strip()
    if authorization:
        parts = authorization.split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            return RawKey(parts[1], False)
        if len(parts) == 1:
            return RawKey(parts[0], False)
        return RawKey(authorization, False)
    api_key = (header("x-api-key") or "").strip()
    if api_key:
        return RawKey(api_key, False)
    if query.get("sdkKey"):
        return RawKey(query["sdkKey"], True)
    return None


def authenticate_sdk_request(raw: RawKey | None, *, require_server: bool = False) -> SDKKey:
    """The active SDK key of the request, or SDKAuthError (401 none/wrong/revoked, 403 kind)."""
    if raw is None:
        raise SDKAuthError(401, "not_authenticated",
                           "an environment key is required (Authorization or X-API-Key)")
    if raw.from_query and raw.value.startswith("srv-"):
        raise SDKAuthError(401, "key_in_url",
                           "server keys must not be sent in URLs; use a header or a client key")
    sdk_key = sdk_key_authenticate(raw.value)
    if sdk_key is None:
        raise SDKAuthError(401, "invalid_key", "unknown, revoked or expired environment key")
    if require_server and sdk_key.kind != SDKKeyKind.SERVER:
        raise SDKAuthError(403, "server_key_required", "this endpoint needs a server key (srv-…)")
    return sdk_key


# Streams re-check their key every STREAM_AUTH_RECHECK_SECONDS while open, so opening one may
# rely on a key looked up this recently: thousands of SDK instances share an environment key.
_recent: dict[str, tuple[SDKKey, float]] = {}
RECENT_SECONDS = 1.0


def authenticate_sdk_stream(raw: RawKey | None, *, cached_only: bool = False) -> SDKKey:
    """authenticate_sdk_request for streams, remembering successes for RECENT_SECONDS."""
    if raw is not None and not (raw.from_query and raw.value.startswith("srv-")):
        digest = sdk_key_hash(raw.value)
        hit = _recent.get(digest)
        if hit is not None and time.monotonic() - hit[1] < RECENT_SECONDS:
            return hit[0]
    else:
        digest = None
    if cached_only:
        raise NotCached
    sdk_key = authenticate_sdk_request(raw)
    if digest is not None:
        if len(_recent) > 10_000:
            _recent.clear()
        _recent[digest] = (sdk_key, time.monotonic())
    return sdk_key
