"""``POST /api/ingest`` served straight from ASGI, beside Django (see config/asgi.py).

Agent CLIs send every message of a conversation at once. Through Django each request holds a
thread of its own until its event is committed; hundreds at a time spend more on threads and
the lock between them than on the work. Here a request costs no thread: it is checked on the
event loop (the same checks as the Django view, from ``sessions_app.api.admission``) and waits
for the ingest writer's commit as a future. A key not read in the last seconds is looked up
once in a worker thread. Everything else, and the in-process test client, goes to Django.
"""

from __future__ import annotations

import asyncio
import json
import logging

from django.conf import settings

from tenancy.models import APIKeyScope
from tenancy.selectors import api_key_authenticate_recent, api_key_remembered

from .api.admission import (
    Refused,
    bearer_key,
    ingest_event_checked,
    parse_json,
    require_scope,
    too_large,
)
from .services import writer

logger = logging.getLogger(__name__)
PATH = "/api/ingest"


async def _body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client left")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send, status: int, body: dict, headers: dict | None = None) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode())]
    head += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


async def ingest(scope, receive, send) -> None:
    if scope["method"] != "POST":
        await _send_json(send, 405, {"error": "method_not_allowed",
                                     "detail": f"{scope['method']} is not allowed here"},
                         {"Allow": "POST"})
        return
    headers = {name.decode("latin-1").lower(): value.decode("latin-1")
               for name, value in scope.get("headers", [])}
    try:
        raw_key = bearer_key(headers.get("authorization"))
        api_key = api_key_remembered(raw_key) or \
            await asyncio.to_thread(api_key_authenticate_recent, raw_key)
        require_scope(api_key, APIKeyScope.INGEST)
        declared = headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > settings.INGEST_MAX_BYTES:
            raise too_large(settings.INGEST_MAX_BYTES)
        body = parse_json(await _body(receive, settings.INGEST_MAX_BYTES))
        event = ingest_event_checked(body, api_key, settings.INGEST_RATE_LIMIT_PER_MINUTE)
        answer = await asyncio.wrap_future(writer.enqueue(api_key, event))
    except Refused as refused:
        await _send_json(send, refused.status, refused.body, refused.headers)
        return
    except ConnectionError:
        return
    except Exception:  # noqa: BLE001 - answered as the Django view would: 500, JSON
        logger.exception("ingest failed")
        await _send_json(send, 500, {"error": "server_error", "detail": "request failed"})
        return
    await _send_json(send, answer.status, answer.body)


def with_ingest(inner):
    """``inner`` with ``POST /api/ingest`` taken over when group commit is on."""
    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PATH and settings.INGEST_GROUP_COMMIT:
            await ingest(scope, receive, send)
        else:
            await inner(scope, receive, send)
    return application
