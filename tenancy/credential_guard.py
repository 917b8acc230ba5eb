"""Credential guessing, on every endpoint and stream at once: an ASGI wrapper around the whole
application counts the requests that carried a credential (``Authorization``, ``X-API-Key``,
or a key or token in the query string) and were refused it (401, or a WebSocket closed with
4401), per client address. Past CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE, every request from
that address that carries a credential — right or wrong — is answered 429 with ``Retry-After``
until the minute ends; requests without one pass (they prove nothing).

The count is shared through the cache (Redis when set), so processes add up; the block itself
is remembered in each process, which learns of it from the count at its own next refusal. A
request that succeeds never touches the cache: the cost is on the failure path only.

``POST /api/ingest`` is counted but never turned away: agent CLIs never retry a 4xx, so a
refusal there loses the event, and a neighbour's revoked key must not cost a good key its
conversation (ingest keys are 256-bit random, and each has its own budget).

The address is the ASGI client's: behind a proxy, run ``serve --proxy-headers`` so that it is
the client's and not the proxy's (else every client behind it shares one count).
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

from django.conf import settings

from .rate_limits import failure_count, seconds_left, window_ends_at

WINDOW_SECONDS = 60
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")
CREDENTIAL_PARAMS = frozenset({"sdkKey", "token", "access_token", "key", "apiKey"})
WEBSOCKET_UNAUTHORIZED = 4401
NEVER_TURNED_AWAY = frozenset({"/api/ingest"})


def carries_credential(scope) -> bool:
    if any(name in CREDENTIAL_HEADERS and value.strip()
           for name, value in scope.get("headers", ())):
        return True
    query = scope.get("query_string") or b""
    if not query:
        return False
    return any(name in CREDENTIAL_PARAMS and value
               for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def _address(scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


class CredentialGuard:
    def __init__(self, inner, limit: int):
        self.inner = inner
        self.limit = limit
        self.blocked: dict[str, float] = {}  # address → time.time() its block ends

    def _blocked_for(self, address: str) -> int | None:
        until = self.blocked.get(address)
        if until is None:
            return None
        if until <= time.time():
            del self.blocked[address]
            return None
        return seconds_left(until)

    def _refused(self, address: str) -> None:
        """Count one refusal; past the limit, block the address until the window ends."""
        counter = [("credential-address", address, self.limit)]
        if failure_count(counter, WINDOW_SECONDS) >= self.limit:
            self.blocked[address] = window_ends_at(WINDOW_SECONDS)
            if len(self.blocked) > 10_000:  # many addresses: drop the ended blocks
                now = time.time()
                self.blocked = {a: u for a, u in self.blocked.items() if u > now}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not carries_credential(scope):
            await self.inner(scope, receive, send)
            return
        address = _address(scope)
        retry_after = self._blocked_for(address)
        if retry_after is not None and scope["path"] not in NEVER_TURNED_AWAY:
            await _too_many(scope, receive, send, retry_after)
            return

        async def watching_send(message):
            # Counted before the answer leaves: the client's next request sees the count.
            kind = message["type"]
            if (kind == "http.response.start" and message["status"] == 401) or (
                    kind == "websocket.close" and message.get("code") == WEBSOCKET_UNAUTHORIZED):
                self._refused(address)
            await send(message)

        # daphne's send carries its request in ``args``; streams find their socket through it
        # (streaming.backpressure: direct writes, and cutting off clients that stop reading).
        watching_send.args = getattr(send, "args", None)
        await self.inner(scope, receive, watching_send)


async def _too_many(scope, receive, send, retry_after: int) -> None:
    detail = (f"too many refused credentials from this address: try again in "
              f"{retry_after} s")
    if scope["type"] == "websocket":
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 4429, "reason": "rate_limited"})
        return
    body = json.dumps({"error": "rate_limited", "detail": detail}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"retry-after", str(retry_after).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def with_credential_guard(inner):
    limit = settings.CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE
    return CredentialGuard(inner, limit) if limit > 0 else inner
