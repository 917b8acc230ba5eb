"""Server-Sent Events served straight from ASGI, on top of the hub, for every stream kind.

A stream costs one coroutine, one small task waiting for the client to leave, and a bounded
queue: no thread, and no database connection while it is open (authentication and replay use
the shared pool in ``streaming.db`` once, when it opens).

What a stream opens with is the same for every kind: a replay from ``Last-Event-ID`` /
``?lastEventId=``, or, when that is too old, ``stream-reset`` followed by the kind's opening
(for the SDK stream a fresh ``put``); a fresh stream gets the kind's opening alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import unquote

from django_eventstream.utils import parse_last_event_id

from .db import run_db
from .backpressure import SlowClient, Transport
from .frames import HEARTBEAT_FRAME, IDLE_FRAME, StreamEvent, reset_frame, revoked_frame
from .hub import BACKED_UP, CLOSE, HEARTBEAT, IDLE, REVOKED, SHUTDOWN, Subscription, drain, hub
from .kinds import NotCached, StreamDenied, StreamKind, StreamPlan, StreamRequest, registry
from .selectors import current_id, events_missed, replayable

logger = logging.getLogger(__name__)


def parse_last_id(channel: str, value: str) -> int:
    """The id ``channel`` is at in a ``Last-Event-ID``; -1 if it names other channels only."""
    try:
        ids = {unquote(c): int(i) for c, i in parse_last_event_id(value).items()}
    except (ValueError, TypeError):
        raise StreamDenied(400, "bad_last_event_id",
                           "Last-Event-ID must be an id this stream sent") from None
    return ids.get(channel, -1)


def fresh_start(kind: StreamKind, plan: StreamPlan, frames: list[bytes],
                current: int | None = None):
    """(frames, last id) of a stream with nothing to resume: the kind's opening, if any."""
    opened = kind.opening(plan)
    if opened is not None:
        opening_frames, last_id = opened
        return frames + opening_frames, last_id
    return frames, current_id(plan.channel) if current is None else current


def replay(kind: StreamKind, plan: StreamPlan, after: int, current: int) -> list[bytes]:
    """The frames of what a stream current at ``after`` missed up to ``current`` (sync); an
    event the kind ends on is the last (``plan.finished``)."""
    frames = []
    for event in events_missed(plan.channel, after, current, accepts=plan.accepts,
                               latest_only=kind.latest_only):
        frames.append(event.frame(kind.render))
        if kind.ends_after(event):
            plan.finished = True
            break
    return frames


def opening(kind: StreamKind, plan: StreamPlan, request: StreamRequest):
    """(frames, last id) a stream of ``plan`` starts with (sync, on the stream pool)."""
    last_event_id = request.last_event_id()
    if last_event_id is None:
        return fresh_start(kind, plan, [])
    after = parse_last_id(plan.channel, last_event_id)
    current = current_id(plan.channel)
    if not replayable(plan.channel, after, current):
        plan.resumed = "reset"
        return fresh_start(kind, plan, [reset_frame(plan.channel, current)], current)
    plan.resumed = "replay"
    if kind.opening_on_resume:
        opened = kind.opening(plan) or ([], current)
        plan.finished = False  # the replay decides whether the stream is over
        return opened[0] + replay(kind, plan, after, current), current
    return replay(kind, plan, after, current), current


def open_from_storage(kind: StreamKind, request: StreamRequest):
    """Authorize and prepare the opening in one trip to the stream pool (sync)."""
    plan = kind.authorize(request)
    frames, last_id = opening(kind, plan, request)
    return plan, frames, last_id


def open_from_cache(kind: StreamKind, request: StreamRequest):
    """The same from in-process caches only (NotCached when it cannot be): a stream opened
    again and again (every SDK instance of an environment, a reconnect storm) then costs no
    database work and no thread hop."""
    if request.last_event_id() is not None:
        raise NotCached  # a replay reads storage
    plan = kind.authorize(request, cached_only=True)
    current = hub.last_ids.get(plan.channel)
    if current is None:
        raise NotCached  # the hub does not follow the channel yet
    frames, last_id = kind.opening_cached(plan, current)
    return plan, frames, last_id


async def open_stream(kind: StreamKind, request: StreamRequest):
    """(plan, opening frames, last id): from caches when possible, else the stream pool."""
    try:
        return open_from_cache(kind, request)
    except NotCached:
        return await run_db(open_from_storage, kind, request)


async def serve(kind: StreamKind, scope, receive, send) -> None:
    """Hold one stream of ``kind`` on this server until the client leaves."""
    request = StreamRequest(scope, kind.path_params(scope["path"]))
    if scope["method"] not in kind.methods:
        await send_json(send, 405, {"error": "method_not_allowed",
                                    "detail": f"use {' or '.join(kind.methods)}"})
        return
    try:
        plan, frames, last_id = await open_stream(kind, request)
    except StreamDenied as denied:
        await send_json(send, denied.status, denied.body)
        return
    subscription = Subscription(plan.channel, accepts=plan.accepts, credential=plan.credential,
                                latest_only=kind.latest_only,
                                heartbeat_seconds=kind.heartbeat_seconds, kind=kind.name)
    dispatched = await hub.subscribe(subscription)
    if plan.resumed:
        hub.count(kind.name, "replays" if plan.resumed == "replay" else "resets")
    try:
        if dispatched > last_id:
            # Events the hub handed out between our read and our subscribing: from storage.
            frames = frames + await run_db(replay, kind, plan, last_id, dispatched)
            last_id = dispatched
        subscription.last_id = last_id
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]})
        if plan.finished:  # the opening or the replay ended with the stream's last event
            await send({"type": "http.response.body",
                        "body": kind.open_frame + b"".join(frames), "more_body": False})
            return
        await send({"type": "http.response.body", "body": kind.open_frame + b"".join(frames),
                    "more_body": True})
        await pump(kind, subscription, receive, send)
    finally:
        hub.unsubscribe(subscription)


async def serve_grip(kind: StreamKind, request: StreamRequest, send) -> None:
    """Answer Pushpin once: the opening, then a hold instruction (see streaming.grip)."""
    from .grip import hold_headers

    try:
        plan, frames, last_id = await open_stream(kind, request)
    except StreamDenied as denied:
        await send_json(send, denied.status, denied.body)
        return
    await hub.watch(plan.channel)
    # Pushpin runs the build-id filter over this body too: a literal % must be doubled.
    body = (kind.open_frame + b"".join(frames)).replace(b"%", b"%%")
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        *hold_headers(request.path, plan.channel, last_id, plan.credential),
    ]})
    await send({"type": "http.response.body", "body": body})


# At most this much is written at once when several events are waiting for one stream.
COALESCE_BYTES = 64 * 1024


def direct_writer(kind: StreamKind, subscription: Subscription, transport: Transport):
    """The writer the hub calls with an event or HEARTBEAT while the pump waits (see
    ``streaming.hub``): writes it straight to the socket and says True, or says False (the
    hub queues it for the pump) when it cannot be written at once or ends the stream."""
    render = kind.render
    ends = type(kind).ends_after is not StreamKind.ends_after
    write_now = transport.write_now

    def write(item) -> bool:
        try:
            if item is HEARTBEAT:
                if not write_now(HEARTBEAT_FRAME):
                    return False
            elif item.__class__ is StreamEvent:
                if item.id <= subscription.last_id:
                    return True  # sent already
                if ends and kind.ends_after(item):
                    return False
                if not write_now(item.frame(render)):
                    return False
                subscription.last_id = item.id
                subscription.delivered += 1
            else:
                return False
            if transport.backed_up():
                # The pump must wait for the client before anything else is written.
                subscription.sink = None
                subscription.offer(BACKED_UP)
        except Exception:  # noqa: BLE001 - the hub must go on to the next stream
            logger.exception("direct write failed; queueing instead")
            return False
        return True

    return write


async def pump(kind: StreamKind, subscription: Subscription, receive, send) -> None:
    """Write what the hub hands the subscription until the client leaves or it must end.

    While it waits for the next item, the hub writes events and heartbeats itself through
    :func:`direct_writer` (daphne's plain TCP only): most deliveries never wake this task.

    A client that does not read: once STREAM_CLIENT_BUFFER_BYTES wait in the server's buffer
    for it, the pump stops taking events (the hub's bounded queue overflows and the stream
    later catches up from storage) until the buffer drains, or closes the stream after
    STREAM_SLOW_CLIENT_SECONDS. Its memory stays bounded and nobody else waits for it."""
    waiter = asyncio.ensure_future(wait_for_disconnect(receive, subscription))
    render = kind.render
    transport = Transport.of(send)
    if transport is not None and transport.direct:
        subscription.writer = direct_writer(kind, subscription, transport)
    try:
        while True:
            item = await subscription.next()
            if item.__class__ is StreamEvent:
                body = item.frame(render)
                subscription.delivered += 1
                last = kind.ends_after(item)
                # Fallen behind: what else is waiting goes in the same write.
                while not last and len(body) < COALESCE_BYTES:
                    more = subscription.ready_event()
                    if more is None:
                        break
                    body += more.frame(render)
                    subscription.delivered += 1
                    last = kind.ends_after(more)
                if last:
                    await send({"type": "http.response.body", "body": body,
                                "more_body": False})
                    return
            elif item is HEARTBEAT:
                body = HEARTBEAT_FRAME
            elif item is BACKED_UP:
                body = b""  # written already; wait for the client below
            elif item is REVOKED:
                await send({"type": "http.response.body", "more_body": False,
                            "body": revoked_frame(registry.revoked_text(subscription.credential))})
                return
            elif item is IDLE:
                hub.count(kind.name, "idle_closed")
                await send({"type": "http.response.body", "body": IDLE_FRAME,
                            "more_body": False})
                return
            elif item is SHUTDOWN:
                # End the response properly: the client reconnects (to another server) with
                # Last-Event-ID and misses nothing.
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            else:  # CLOSE: the client left
                return
            if body and (transport is None or not transport.write_now(body)):
                await send({"type": "http.response.body", "body": body, "more_body": True})
            if transport is not None and transport.backed_up():
                try:
                    await transport.drained()
                except SlowClient:
                    hub.count(kind.name, "slow_closed")
                    transport.abort()
                    return
    finally:
        subscription.writer = subscription.sink = None
        waiter.cancel()


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
