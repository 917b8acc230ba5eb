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

from django.conf import settings

from tenancy.api.admission import asgi_answer, asgi_body, asgi_headers, asgi_method_refused
from tenancy.models import APIKeyScope
from tenancy.selectors import api_key_authenticate_recent, api_key_remembered

from .api.admission import (
    bearer_key,
    ingest_event_checked,
    parse_json,
    require_scope,
    too_large,
)
from .services import writer

PATH = "/api/ingest"


async def ingest(scope, receive, send) -> None:
    if await asgi_method_refused(scope, send):
        return
    headers = asgi_headers(scope)

    async def work():
        raw_key = bearer_key(headers.get("authorization"))
        api_key = api_key_remembered(raw_key) or \
            await asyncio.to_thread(api_key_authenticate_recent, raw_key)
        require_scope(api_key, APIKeyScope.INGEST)
        declared = headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > settings.INGEST_MAX_BYTES:
            raise too_large(settings.INGEST_MAX_BYTES)
        body = parse_json(await asgi_body(receive, settings.INGEST_MAX_BYTES))
        event = ingest_event_checked(body, api_key, settings.INGEST_RATE_LIMIT_PER_MINUTE)
        answer = await writer.answer((api_key, event))
        return answer.status, answer.body

    await asgi_answer(send, work, "ingest")


def with_ingest(inner):
    """``inner`` with ``POST /api/ingest`` taken over when group commit is on."""
    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PATH and settings.INGEST_GROUP_COMMIT:
            await ingest(scope, receive, send)
        else:
            await inner(scope, receive, send)
    return application
