"""Server-Sent Events served straight from ASGI, on top of the hub.

A stream costs one coroutine, one small task waiting for the client to leave, and a bounded
queue: no thread, and no database connection while it is open (authentication and replay use
the shared pool in ``streaming.db`` once, when it opens). Event ids are django-eventstream's
(``<channel>:<id>``), so ``Last-Event-ID`` works the same here and through Pushpin.

Each endpoint says how a request is authorized (which channel, which key, which filter), how an
event is rendered, and what a stream opens with: a replay from ``Last-Event-ID``/``lastEventId``,
or, when that is too old, ``stream-reset`` (and, for the SDK stream, a fresh ``put``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, unquote

from django.core.serializers.json import DjangoJSONEncoder
from django_eventstream.utils import make_id, parse_last_event_id, sse_encode_event

from flags.sdk_auth import NotCached

from .db import run_db
from .hub import (
    CLOSE,
    HEARTBEAT,
    RESYNC,
    REVOKED,
    SHUTDOWN,
    StreamEvent,
    Subscription,
    drain,
    hub,
    read_events,
)

logger = logging.getLogger(__name__)


# What django-eventstream's own streams (and so Pushpin-held ones) start with.
STREAM_OPEN = b"event: stream-open\ndata:\n\n"


class StreamDenied(Exception):
    """The stream cannot open: answered with ``status`` and a JSON body."""

    def __init__(self, status: int, code: str, detail: str, **extra):
        super().__init__(detail)
        self.status = status
        self.body = {"error": code, "detail": detail, **extra}


class StreamRequest:
    """What a stream endpoint needs from an ASGI HTTP scope."""

    def __init__(self, scope):
        self.path = scope["path"]
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                        for name, value in scope.get("headers", [])}
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        self.query_list = pairs
        self.query = {}
        for name, value in pairs:
            self.query.setdefault(name, value)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def last_event_id(self) -> str | None:
        value = self.header("last-event-id")
        if value:
            return value
        for name, value in reversed(self.query_list):  # the last non-empty one, as the library
            if name == "lastEventId" and value:
                return value
        return None


@dataclass
class StreamPlan:
    channel: str
    key_id: int | None = None
    accepts: Callable | None = None
    render: Callable | None = None
    context: object = None  # whatever the endpoint needs when opening


def sse_frame(event_type: str, data, event_id: str | None = None) -> bytes:
    if not isinstance(data, str):
        data = json.dumps(data, cls=DjangoJSONEncoder)
    return sse_encode_event(event_type, data, event_id=event_id).encode()


class StreamEndpoint:
    """Base class: subclasses implement ``authorize`` and may override the opening."""

    def authorize(self, request: StreamRequest) -> StreamPlan:  # sync, on the DB pool
        raise NotImplementedError

    def opening(self, plan: StreamPlan, request: StreamRequest, current: int | None):
        """(frames, last id) to send first (sync, on the DB pool); ``current`` is read if None."""
        from .hub import current_ids

        frames: list[bytes] = []
        last_event_id = request.last_event_id()
        if last_event_id is None:
            return self.fresh_start(plan, current, frames)
        after = self.parse_last_id(plan.channel, last_event_id)
        if current is None:
            current = current_ids([plan.channel])[plan.channel]
        if not replayable(plan.channel, after, current):
            frames.append(sse_frame("stream-reset", {"channels": [plan.channel]},
                                    make_id({plan.channel: current})))
            return self.fresh_start(plan, current, frames, reset=True)
        return self.replay(plan, after, current, frames)

    def parse_last_id(self, channel: str, value: str) -> int:
        try:
            ids = {unquote(c): int(i) for c, i in parse_last_event_id(value).items()}
        except (ValueError, TypeError):
            raise StreamDenied(400, "bad_last_event_id",
                               "Last-Event-ID must be an id this stream sent") from None
        if channel not in ids:
            return -1  # an id of another stream: cannot resume here
        return ids[channel]

    def fresh_start(self, plan, current, frames, reset=False):
        if current is None:
            from .hub import current_ids

            current = current_ids([plan.channel])[plan.channel]
        return frames, current

    def replay(self, plan, after, current, frames):
        events = read_events(plan.channel, after, current, limit=100_000)
        for event in events:
            if plan.accepts is None or plan.accepts(event):
                frames.append(event.frame(plan.render))
        return frames, current

    def open_stream(self, request: StreamRequest):
        """Authorize and prepare the opening in one trip to the DB pool (sync)."""
        plan = self.authorize(request)
        frames, last_id = self.opening(plan, request, None)
        return plan, frames, last_id

    def open_stream_cached(self, request: StreamRequest):
        """The same from in-process caches only; raises NotCached when that cannot be done.

        A stream opened again and again (every SDK instance of an environment, a reconnect
        storm) then costs no database work and no thread hop.
        """
        raise NotCached

    async def open(self, request: StreamRequest):
        """(plan, opening frames, last id): from caches when possible, else the DB pool."""
        try:
            return self.open_stream_cached(request)
        except NotCached:
            return await run_db(self.open_stream, request)

    async def __call__(self, scope, receive, send):
        request = StreamRequest(scope)
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "method_not_allowed", "detail": "use GET"})
            return
        try:
            plan, frames, last_id = await self.open(request)
        except StreamDenied as denied:
            await send_json(send, denied.status, denied.body)
            return
        subscription = Subscription(plan.channel, accepts=plan.accepts, key_id=plan.key_id)
        dispatched = await hub.subscribe(subscription)
        try:
            if dispatched > last_id:
                # Events the hub handed out between our read and our subscribing: from storage.
                frames = frames + (await run_db(self.replay, plan, last_id, dispatched, []))[0]
                last_id = dispatched
            subscription.last_id = last_id
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]})
            await send({"type": "http.response.body",
                        "body": STREAM_OPEN + b"".join(frames),
                        "more_body": True})
            await self.pump(plan, subscription, receive, send)
        finally:
            hub.unsubscribe(subscription)

    async def serve_grip(self, request: StreamRequest, send):
        """Answer Pushpin once: the opening, then a hold instruction (see streaming.grip)."""
        from .grip import hold_headers

        try:
            plan, frames, last_id = await self.open(request)
        except StreamDenied as denied:
            await send_json(send, denied.status, denied.body)
            return
        await hub.watch(plan.channel)
        # Pushpin runs the build-id filter over this body too: a literal % must be doubled.
        body = (STREAM_OPEN + b"".join(frames)).replace(b"%", b"%%")
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            *hold_headers(request.path, plan.channel, last_id, plan.key_id),
        ]})
        await send({"type": "http.response.body", "body": body})

    async def pump(self, plan: StreamPlan, subscription: Subscription, receive, send):
        waiter = asyncio.ensure_future(wait_for_disconnect(receive, subscription))
        try:
            while True:
                item = await subscription.queue.get()
                if item.__class__ is StreamEvent:
                    if item.id <= subscription.last_id:
                        continue
                    subscription.last_id = item.id
                    body = item.frame(plan.render)
                elif item is HEARTBEAT:
                    # One comment line and no blank line: a blank line would close an empty
                    # block, which some clients (httpx-sse) surface as an empty "message".
                    body = b":\n"
                elif item is RESYNC:
                    frames, subscription.last_id = await run_db(
                        self.resync, plan, subscription.last_id)
                    body = b"".join(frames)
                elif item is REVOKED:
                    await send({"type": "http.response.body", "more_body": False,
                                "body": sse_frame("stream-error", {
                                    "condition": "unauthorized",
                                    "text": "the key of this stream was revoked"}, "error")})
                    return
                elif item is SHUTDOWN:
                    # End the response properly: the client reconnects (to another server)
                    # with Last-Event-ID and misses nothing.
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                else:  # CLOSE: the client left
                    return
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            waiter.cancel()

    def resync(self, plan: StreamPlan, last_id: int):
        """Catch a subscriber that overflowed its queue up from storage (sync)."""
        from .hub import current_ids

        current = current_ids([plan.channel])[plan.channel]
        return self.replay(plan, last_id, current, [])


def replayable(channel: str, after: int, current: int) -> bool:
    """Whether every event after ``after`` up to ``current`` is still stored (sync)."""
    from django_eventstream.models import Event

    if after < 0 or after > current:
        return False
    if after == current:
        return True
    oldest = (Event.objects.filter(channel=channel, eid__gt=0).exclude(type="")
              .order_by("eid").values_list("eid", flat=True).first())
    return oldest is not None and oldest <= after + 1


async def wait_for_disconnect(receive, subscription: Subscription) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            drain(subscription.queue)
            subscription.offer(CLOSE)
            return


async def send_json(send, status: int, body: dict, headers=()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": payload})
