"""The in-process fan-out hub: one per server process, shared by every open stream.

Events reach the hub from exactly one source per process:

* embedded mode — :class:`TableTailer` polls django-eventstream's per-channel counters (one tiny
  query every STREAM_POLL_SECONDS, or at once when this process published) and reads new events
  of the channels someone here is subscribed to, so events stored by *any* process (a request,
  the admin, a ``manage.py`` command, a Celery task) arrive here;
* with Redis — :class:`RedisSource` listens to the pub/sub channel django-eventstream publishes
  to, and, unlike the library, notices a lost message: every channel's event ids are consecutive,
  so a jump is repaired from storage, and a periodic counter check catches a lost last message.

Each subscription has a bounded queue; the hub never waits on a subscriber, so a slow client
cannot hold up the others. A subscriber that overflows is told to resynchronise from storage.

The common case costs no queue at all: a consumer that can write without waiting (an SSE
stream on daphne, ``streaming.sse``) installs a ``writer``, and while it waits on an empty queue
the hub hands events and heartbeats straight to it (``Subscription.sink``) — one socket write,
no task wake-up. Whatever the writer declines (a full socket, an event that ends the stream,
anything but an event or a heartbeat) goes through the queue as before, so order is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .db import run_db
from .frames import StreamEvent
from .kinds import Credential, registry
from .selectors import counters_changed_since, current_id, current_ids, events_missed, \
    read_events, read_events_many

logger = logging.getLogger(__name__)

# Markers a subscription's queue can hold besides events.
HEARTBEAT = "heartbeat"
RESYNC = "resync"
REVOKED = "revoked"
CLOSE = "close"
SHUTDOWN = "shutdown"
IDLE = "idle"
# Queued by a writer that left more unsent for the client than it may: the consumer waits.
BACKED_UP = "backed up"

# What the hub counts per stream kind, reported with the open streams (streaming.presence).
COUNTERS = ("opened", "delivered", "replays", "resets", "revoked", "idle_closed", "slow_closed")

# Catching up several channels at once: channels per query, events per query.
CATCH_UP_CHANNELS = 200
CATCH_UP_LIMIT = 5000


class Subscription:
    """One open stream's place in the hub: a bounded queue the hub fills without waiting."""

    __slots__ = ("channel", "queue", "accepts", "credential", "latest_only", "last_id",
                 "backlog", "heartbeat_seconds", "next_heartbeat", "kind", "delivered",
                 "touched", "seen_activity", "idle_since", "held", "writer", "sink",
                 "__weakref__")

    def __init__(self, channel: str, *, accepts=None, credential: Credential | None = None,
                 latest_only: bool = False, heartbeat_seconds: float | None = None,
                 kind: str = ""):
        self.channel = channel
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=settings.STREAM_QUEUE_SIZE)
        self.accepts = accepts
        self.credential = credential
        self.latest_only = latest_only
        self.last_id = 0
        self.backlog: deque | None = None  # events read from storage after an overflow
        self.heartbeat_seconds = heartbeat_seconds  # None: STREAM_HEARTBEAT_SECONDS
        self.next_heartbeat = 0.0  # loop time; set when the hub takes the subscription
        self.kind = kind  # the stream kind's name, for the figures; "" for the hub's own
        self.delivered = 0  # events its consumer wrote out (heartbeats are not counted)
        self.touched = 0  # what the client itself did (a WebSocket message): activity too
        self.seen_activity = 0  # delivered + touched when the idle check last looked
        self.idle_since = 0.0  # loop time of the last activity the idle check saw
        self.held = None  # an item ready_event() took from the queue that is not an event
        # The consumer's direct writer (item -> bool: written, or declined), if it has one, and
        # the same while the consumer waits on an empty queue (else None): see push().
        self.writer = None
        self.sink = None

    def push(self, item) -> bool:
        """Hand ``item`` on without waiting: straight to the consumer's writer when it waits
        for its next item and none is queued, else into the queue. False: the queue is full."""
        sink = self.sink
        if sink is not None and not self.queue.qsize() and sink(item):
            return True
        return self.offer(item)

    def offer(self, item) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    async def next(self):
        """What the stream sends next, in order: each event once (by id), or HEARTBEAT,
        REVOKED, SHUTDOWN as they come, or CLOSE when the client has left.

        A subscriber that fell too far behind (RESYNC) is caught up here from storage with
        what it accepts, so no consumer handles overflow itself. (A coroutine per item rather
        than an async generator: it is the hot path of every delivery.)
        """
        while True:
            if self.backlog:
                return self.backlog.popleft()
            if self.held is not None:
                item, self.held = self.held, None
            else:
                self.sink = self.writer  # items may bypass the queue while it is empty
                try:
                    item = await self.queue.get()
                finally:
                    self.sink = None
            if item.__class__ is StreamEvent:
                if self._fresh(item):
                    return item
            elif item is RESYNC:
                events, current = await run_db(self._missed)
                self.backlog = deque(events)
                self.last_id = max(self.last_id, current)
            else:
                return item

    def ready_event(self) -> StreamEvent | None:
        """The next event if one is waiting already (without waiting), else None. Anything
        else found first stays first for :meth:`next`. A consumer writes what is ready in one
        go: one write for many events when it has fallen behind."""
        if self.backlog:
            return self.backlog.popleft()
        while self.held is None:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
            if item.__class__ is StreamEvent:
                if self._fresh(item):
                    return item
            else:
                self.held = item
        return None

    def _fresh(self, event: StreamEvent) -> bool:
        """Whether ``event`` is new to this stream (each event once, by id); noted if so."""
        if event.id > self.last_id:
            self.last_id = event.id
            return True
        return False

    def _missed(self):
        current = current_id(self.channel)
        return events_missed(self.channel, self.last_id, current, accepts=self.accepts,
                             latest_only=self.latest_only), current


class Hub:
    def __init__(self):
        self.subscriptions: dict[str, set[Subscription]] = {}
        self.last_ids: dict[str, int] = {}  # last event id dispatched, per subscribed channel
        self.loop: asyncio.AbstractEventLoop | None = None
        self.source = None
        self._tasks: list[asyncio.Task] = []
        self._loading: dict[str, asyncio.Future] = {}
        self.counters: dict[str, dict[str, int]] = {}  # per kind; see COUNTERS
        self.started = timezone.now()
        self.report_key = ""

    # --- lifecycle ------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self.loop = loop
        self.source = RedisSource(self) if getattr(settings, "EVENTSTREAM_REDIS", None) \
            else TableTailer(self)
        self._tasks = [loop.create_task(self.source.run(), name="stream-hub-source"),
                       loop.create_task(self._heartbeats(), name="stream-hub-heartbeat"),
                       loop.create_task(self._recheck_credentials(), name="stream-hub-auth"),
                       loop.create_task(self._report(), name="stream-hub-report")]

    async def stop(self) -> None:
        """Stop this loop's source and periodic tasks, and wait for them to end.

        A server process never needs it (it exits); a test that runs the hub on an event loop
        of its own stops it before the loop closes. The source is asked to stop rather than
        cancelled: redis-py's pub/sub reader can swallow a cancellation that arrives while it
        connects, and the loop's shutdown would then wait for it forever.
        """
        if self.source is None:
            return
        source_task, *periodic = self._tasks
        self.source.stopping = True
        self.source.wake()
        for task in periodic:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=5)
        self.loop, self.source, self._tasks = None, None, []
        await self.report_remove()

    def poke(self) -> None:
        """Something was just published in this process: look for it now (thread-safe)."""
        if self.loop is not None and self.source is not None:
            try:
                self.loop.call_soon_threadsafe(self.source.wake)
            except RuntimeError:  # loop closed
                pass

    # --- subscriptions --------------------------------------------------------------------

    async def subscribe(self, subscription: Subscription) -> int:
        """Register ``subscription``; returns the channel's current event id.

        Registration happens before the id is read, so an event stored meanwhile is either in
        what the caller reads from storage or queued for it; callers drop ids they have sent.
        """
        self._ensure_started()
        now = self.loop.time()
        subscription.next_heartbeat = now + (
            subscription.heartbeat_seconds or settings.STREAM_HEARTBEAT_SECONDS)
        subscription.idle_since = now
        if subscription.kind:
            self.count(subscription.kind, "opened")
        channel = subscription.channel
        self.subscriptions.setdefault(channel, set()).add(subscription)
        if channel not in self.last_ids:
            loading = self._loading.get(channel)
            if loading is None:
                loading = self._loading[channel] = asyncio.ensure_future(
                    run_db(current_ids, [channel]))
                try:
                    current = (await loading)[channel]
                finally:
                    self._loading.pop(channel, None)
                if channel in self.subscriptions:
                    self.last_ids[channel] = current
            else:
                await asyncio.shield(loading)
        return self.last_ids.get(channel, 0)

    async def watch(self, channel: str) -> None:
        """Follow ``channel`` with no stream of ours on it (Pushpin holds them), so that the
        hub knows its current event id and stream openings can be answered from cache."""
        if channel not in self.subscriptions:
            await self.subscribe(Subscription(channel, accepts=_never))

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.kind and subscription.delivered:
            self.count(subscription.kind, "delivered", subscription.delivered)
            subscription.delivered = 0
        subscribers = self.subscriptions.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.subscriptions[subscription.channel]
                self.last_ids.pop(subscription.channel, None)

    # --- dispatch -------------------------------------------------------------------------

    def dispatch(self, event: StreamEvent) -> None:
        """Hand ``event`` to every subscriber of its channel, in id order, without waiting."""
        last = self.last_ids.get(event.channel)
        if last is None or event.id <= last:
            return  # nobody here listens, or already dispatched
        self.last_ids[event.channel] = event.id
        for subscription in tuple(self.subscriptions.get(event.channel, ())):
            accepts = subscription.accepts
            if accepts is not None and not accepts(event):
                continue
            sink = subscription.sink  # push(), inlined: this loop runs once per stream
            if sink is not None and not subscription.queue.qsize() and sink(event):
                continue
            if not subscription.offer(event):
                # Too far behind: drop what is queued and let it catch up from storage.
                drain(subscription.queue)
                subscription.offer(RESYNC)

    async def catch_up(self, channel: str, upto: int | None = None) -> None:
        """Dispatch the stored events of ``channel`` after the last one dispatched here."""
        last = self.last_ids.get(channel)
        if last is None or (upto is not None and upto <= last):
            return
        while True:
            events = await run_db(read_events, channel, self.last_ids.get(channel, last), upto)
            for event in events:
                self.dispatch(event)
            if len(events) < 1000:
                return

    async def catch_up_many(self, upto: dict[str, int]) -> None:
        """``catch_up`` for several channels (channel -> id to reach), reading them together:
        a few queries per poll however many channels moved (thousands of task streams)."""
        names = list(upto)
        for start in range(0, len(names), CATCH_UP_CHANNELS):
            pending = {name: upto[name] for name in names[start:start + CATCH_UP_CHANNELS]}
            while pending:
                ranges = {name: (self.last_ids[name], value) for name, value in pending.items()
                          if name in self.last_ids and self.last_ids[name] < value}
                if not ranges:
                    break
                events = await run_db(read_events_many, ranges)
                for event in events:
                    self.dispatch(event)
                if not events:
                    break  # the rest is not stored (trimmed, or ids the library skipped)
                pending = {name: value for name, value in pending.items()
                           if self.last_ids.get(name, value) < value}
                if len(events) < CATCH_UP_LIMIT:
                    break

    # --- periodic work --------------------------------------------------------------------

    async def shut_down(self, grace_seconds: float = 5.0) -> None:
        """End every open stream cleanly (the server is stopping), waiting up to the grace."""
        for subscribers in self.subscriptions.values():
            for subscription in subscribers:
                drain(subscription.queue)
                subscription.offer(SHUTDOWN)
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while self.connection_count() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for task in self._tasks:
            if task.get_name() == "stream-hub-report":
                task.cancel()
        await self.report_remove()

    def connection_count(self) -> int:
        return sum(len(s) for channel, s in self.subscriptions.items()
                   if not all(sub.accepts is _never for sub in s))

    # --- figures --------------------------------------------------------------------------

    def count(self, kind: str, name: str, n: int = 1) -> None:
        counters = self.counters.get(kind)
        if counters is None:
            counters = self.counters[kind] = dict.fromkeys(COUNTERS, 0)
        counters[name] += n

    def figures(self) -> dict:
        """This process's open streams per kind, per channel for kinds counted by channel
        (``stats_by_channel``), and its counters: what it reports (streaming.presence)."""
        kinds: dict[str, int] = {}
        channels: dict[str, int] = {}
        counters = {kind: dict(values) for kind, values in self.counters.items()}
        by_channel = {name for name, kind in registry.kinds.items() if kind.stats_by_channel}
        for channel, subscribers in self.subscriptions.items():
            for subscription in subscribers:
                kind = subscription.kind
                if not kind:
                    continue
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind in by_channel:
                    channels[channel] = channels.get(channel, 0) + 1
                if subscription.delivered:
                    mine = counters.setdefault(kind, dict.fromkeys(COUNTERS, 0))
                    mine["delivered"] += subscription.delivered
        return {"kinds": kinds, "channels": channels, "counters": counters}

    async def _report(self) -> None:
        """Write this process's figures every STREAM_PRESENCE_SECONDS (streaming.presence)."""
        from .presence import SERVER, process_key, report_write

        self.report_key = self.report_key or process_key(SERVER)
        while True:
            try:
                await run_db(report_write, self.report_key, SERVER, self.figures(),
                             started=self.started)
            except Exception:  # noqa: BLE001 - the database may be briefly away; next time
                logger.warning("could not write this process's stream figures", exc_info=True)
            await asyncio.sleep(settings.STREAM_PRESENCE_SECONDS)

    async def report_remove(self) -> None:
        """This process is stopping: its figures no longer count."""
        from .presence import report_remove

        if self.report_key:
            try:
                await run_db(report_remove, self.report_key)
            except Exception:  # noqa: BLE001
                logger.warning("could not remove this process's stream figures", exc_info=True)

    def broadcast(self, marker) -> None:
        for subscribers in self.subscriptions.values():
            for subscription in subscribers:
                subscription.offer(marker)

    async def _heartbeats(self) -> None:
        """A heartbeat to each stream every STREAM_HEARTBEAT_SECONDS, or its kind's own
        interval (a kind's ``heartbeat_seconds``), within a third of the shortest interval;
        IDLE to a stream with no activity for STREAM_IDLE_TIMEOUT_SECONDS (its heartbeats are
        not activity: only events delivered and what the client itself sends)."""
        while True:
            shortest = min([settings.STREAM_HEARTBEAT_SECONDS] + [
                seconds for seconds in (kind.heartbeat_seconds
                                        for kind in registry.kinds.values()) if seconds] + (
                [settings.STREAM_IDLE_TIMEOUT_SECONDS] if settings.STREAM_IDLE_TIMEOUT_SECONDS
                else []))
            await asyncio.sleep(shortest / 3)
            now = self.loop.time()
            idle = settings.STREAM_IDLE_TIMEOUT_SECONDS
            for subscribers in self.subscriptions.values():
                for subscription in subscribers:
                    if idle and subscription.kind:
                        activity = subscription.delivered + subscription.touched
                        if activity != subscription.seen_activity:
                            subscription.seen_activity = activity
                            subscription.idle_since = now
                        elif now - subscription.idle_since >= idle:
                            drain(subscription.queue)
                            subscription.offer(IDLE)
                            subscription.idle_since = now  # once: the stream ends on it
                            continue
                    if subscription.next_heartbeat <= now:
                        subscription.next_heartbeat = now + (
                            subscription.heartbeat_seconds or settings.STREAM_HEARTBEAT_SECONDS)
                        subscription.push(HEARTBEAT)

    async def _recheck_credentials(self) -> None:
        """Close the streams whose credential was revoked (or expired) anywhere, within
        STREAM_AUTH_RECHECK_SECONDS: one batched question per credential kind."""
        while True:
            await asyncio.sleep(settings.STREAM_AUTH_RECHECK_SECONDS)
            by_credential: dict[Credential, list[Subscription]] = {}
            for subscribers in self.subscriptions.values():
                for subscription in subscribers:
                    if subscription.credential is not None:
                        by_credential.setdefault(subscription.credential, []).append(subscription)
            if not by_credential:
                continue
            try:
                revoked = await run_db(revoked_credentials, list(by_credential))
            except Exception:  # noqa: BLE001 - the database may be briefly away; try later
                logger.exception("could not re-check stream credentials")
                continue
            for credential in revoked:
                for subscription in by_credential[credential]:
                    drain(subscription.queue)
                    subscription.offer(REVOKED)
                    if subscription.kind:
                        self.count(subscription.kind, "revoked")


def revoked_credentials(credentials) -> set[Credential]:
    """Of ``credentials``, those their kinds report revoked (sync; 500 ids a question)."""
    by_kind: dict[str, list[int]] = {}
    for credential in credentials:
        by_kind.setdefault(credential.kind, []).append(credential.id)
    out: set[Credential] = set()
    for kind_name, ids in by_kind.items():
        kind = registry.credentials.get(kind_name)
        if kind is None:
            continue
        for start in range(0, len(ids), 500):
            out.update(Credential(kind_name, ident)
                       for ident in kind.revoked(ids[start:start + 500]))
    return out


def _never(event) -> bool:
    return False


def drain(queue: asyncio.Queue) -> None:
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return


class TableTailer:
    """Embedded-mode source: follow the event storage tables of the shared database."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self._wake = asyncio.Event()
        self.stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        # Counters are read with an overlap so that a transaction that committed after a later
        # one (its `updated` is older) is still seen; ids make the overlap harmless.
        overlap = timedelta(seconds=5)
        since = timezone.now() - overlap
        while not self.stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), settings.STREAM_POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if not self.hub.subscriptions:
                since = timezone.now() - overlap
                continue
            started = timezone.now()
            try:
                changed = await run_db(counters_changed_since, since)
                behind = {channel: value for channel, value in changed
                          if value > self.hub.last_ids.get(channel, value)}
                await self.hub.catch_up_many(behind)
            except Exception:  # noqa: BLE001 - keep tailing through transient errors
                logger.exception("stream tailer failed; retrying")
                await asyncio.sleep(1)
                continue
            since = started - overlap


# Redis channel of several events in one message: ``{"events": [<events_channel message>…]}``
# (streaming.broadcast.fan_out_many); django-eventstream's own ``events_channel`` carries one.
BATCH_CHANNEL = "flagstream_events_batch"


class RedisSource:
    """Redis-mode source: django-eventstream's pub/sub messages (and our batches of them),
    with gap repair."""

    # How long one read waits for a message before it looks whether it should stop.
    READ_SECONDS = 1.0

    def __init__(self, hub: Hub):
        self.hub = hub
        self.stopping = False

    def wake(self) -> None:
        pass  # messages arrive by themselves

    async def run(self) -> None:
        from redis.asyncio import Redis

        checker = asyncio.get_running_loop().create_task(self._check_counters())
        try:
            while not self.stopping:
                client = Redis(**settings.EVENTSTREAM_REDIS)
                try:
                    pubsub = client.pubsub()
                    await pubsub.subscribe("events_channel", BATCH_CHANNEL)
                    # Anything published while we were not listening is in storage.
                    for channel in list(self.hub.subscriptions):
                        await self.hub.catch_up(channel)
                    while not self.stopping:
                        message = await pubsub.get_message(timeout=self.READ_SECONDS)
                        if message is not None and message.get("type") == "message":
                            body = json.loads(message["data"])
                            for item in body["events"] if "events" in body else [body]:
                                await self._handle(item)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - reconnect after a Redis error
                    logger.exception("redis event source failed; reconnecting")
                    await asyncio.sleep(1)
                finally:
                    await client.aclose()
        finally:
            checker.cancel()

    async def _handle(self, message: dict) -> None:
        channel = message["channel"]
        last = self.hub.last_ids.get(channel)
        if last is None or message.get("pub_id") is None:
            return
        event_id = int(message["pub_id"])
        if event_id <= last:
            return
        if event_id > last + 1:  # a message went missing: fill the gap from storage
            logger.warning("gap on %s: %s after %s; repairing from storage", channel, event_id,
                           last)
            await self.hub.catch_up(channel, event_id)
            return
        self.hub.dispatch(StreamEvent(channel, event_id, message["event_type"], message["data"]))

    async def _check_counters(self) -> None:
        """A lost *last* message leaves no gap to notice: compare with the counters now and then."""
        while True:
            await asyncio.sleep(settings.STREAM_GAP_CHECK_SECONDS)
            channels = list(self.hub.last_ids)
            if not channels:
                continue
            try:
                for channel, value in (await run_db(current_ids, channels)).items():
                    if value > self.hub.last_ids.get(channel, value):
                        await self.hub.catch_up(channel, value)
            except Exception:  # noqa: BLE001
                logger.exception("counter check failed")


hub = Hub()

