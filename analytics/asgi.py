"""``POST /api/sdk/events`` and ``POST /api/sdk/track`` served straight from ASGI, beside Django
(see config/asgi.py), as ``POST /api/ingest`` is (sessions_app.asgi).

Through Django, each request held the one thread sync views share and paid a transaction and a
commit of its own: about 90 single events a second. Here a request costs no thread: it is read
and checked on the event loop (the same checks as the views, from analytics.api.requests) and
its batch handed to the group-commit writer (analytics.writer), which stores what arrives
together in one transaction; the request is answered 202 after that commit. A key not read in
the last second is looked up once in a worker thread (the same one-second memory as SDK
streams: a revoked key is refused within a second).
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from django.conf import settings

from flags.sdk_auth import SDKAuthError, authenticate_sdk_stream, raw_key_from
from streaming.kinds import NotCached
from tenancy.api.admission import (
    asgi_answer,
    asgi_body,
    asgi_headers,
    asgi_method_refused,
    parse_json,
    too_large,
)

from .api.requests import EVENTS, TRACK, auth_refused, batch_of, rate_counted
from .writer import writer

PATHS = (EVENTS, TRACK)


async def _sdk_key(headers: dict, scope):
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    raw = raw_key_from(headers.get, query)
    try:
        try:
            return authenticate_sdk_stream(raw, cached_only=True)
        except NotCached:
            return await asyncio.to_thread(authenticate_sdk_stream, raw)
    except SDKAuthError as exc:
        raise auth_refused(exc) from None


async def sdk_ingest(scope, receive, send) -> None:
    if await asgi_method_refused(scope, send):
        return
    headers = asgi_headers(scope)
    limit = settings.ANALYTICS_MAX_BODY_BYTES

    async def work():
        sdk_key = await _sdk_key(headers, scope)
        rate_counted(sdk_key)
        declared = headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        body = parse_json(await asgi_body(receive, limit))
        payload_id, batch = batch_of(scope["path"], headers.get("x-payload-id"), body)
        return 202, await writer.answer((sdk_key.environment, payload_id, batch))

    await asgi_answer(send, work, "analytics ingest")


def with_sdk_ingest(inner):
    """``inner`` with the SDK analytics endpoints taken over when group commit is on."""
    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] in PATHS and settings.INGEST_GROUP_COMMIT:
            await sdk_ingest(scope, receive, send)
        else:
            await inner(scope, receive, send)
    return application
