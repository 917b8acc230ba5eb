"""The NATS bridge: company updates published to NATS reach the company streams.

``manage.py nats_bridge`` runs :class:`Bridge`. It reads the JetStream stream NATS_STREAM
(created when missing, on NATS_SUBJECTS) through the durable pull consumer NATS_DURABLE, so
what was published while the bridge was down is delivered when it comes back. Per batch:

1. each message is read: a JSON object with ``companyId`` (an organization's slug); its
   subject gives the event type (NATS_EVENT_TYPES, first match), the object is the data;
2. what cannot be delivered is counted and dropped: not JSON / not an object / too big
   (``invalid``), no pattern for its subject (``unmapped``), no such company
   (``unknown_company``), the company's live updates off (``disabled``) — companies are looked up
   at most every STREAM_AUTH_RECHECK_SECONDS;
3. the rest is stored for replay together with the record of their sequences, in one transaction
   (companies.events.bridged_updates_store), and fanned out;
4. only then is each message of the batch acknowledged.

A message is recognised by its stream sequence (companies.models.BridgeMessage, stored with the
events), so one delivered again — the bridge died after storing and before acknowledging — is
not stored twice, whatever order JetStream redelivers it in (after NATS_ACK_WAIT_SECONDS; then
it can come after newer ones).

Storing that fails is retried (the batch is held, JetStream told it is in progress) until it
works: nothing later is fetched meanwhile, so order holds and nothing is lost. The connection
is retried forever with backoff; SIGTERM or SIGINT ends the current batch, and the bridge stops
cleanly. Every STREAM_PRESENCE_SECONDS it reports its state and lag (streaming.presence:
/stream/stats, /stream/health, /metrics); every hour it forgets the messages the stream no
longer keeps.

Messages come through :class:`companies.nats_pull.Puller` (one pull request always out) and are
stored as published (the JSON text of each message, checked): at ten thousand a second the
per-message cost is what counts (docs/BENCHMARKS.md, company live updates).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from streaming.db import run_db
from streaming.presence import BRIDGE, process_key, report_remove, report_write
from tenancy.models import Organization

from .events import (
    bridged_messages_trim,
    bridged_updates_store,
    event_type_for,
    event_type_mapping,
    update_checked,
)
from .nats_pull import Puller

logger = logging.getLogger(__name__)

DROP_REASONS = ("invalid", "unmapped", "unknown_company", "disabled")


def url_shown(url: str) -> str:
    """A NATS URL without its credentials, for reports and logs."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@dataclass
class BridgeState:
    """What the bridge reports about itself."""

    url: str
    stream: str
    durable: str
    subjects: list[str]
    connected: bool = False
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: dict = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    acknowledged: int = 0
    lag: int | None = None  # messages in the stream the bridge has not acknowledged
    lag_seconds: float | None = None  # publish time to storing, of the last batch's newest
    last_stored_at: str | None = None
    last_error: str = ""
    reconnects: int = 0

    def figures(self) -> dict:
        return {"url": url_shown(self.url), "stream": self.stream, "durable": self.durable,
                "subjects": self.subjects, "connected": self.connected,
                "received": self.received, "stored": self.stored,
                "duplicates": self.duplicates, "dropped": dict(self.dropped),
                "acknowledged": self.acknowledged, "lag": self.lag,
                "lagSeconds": self.lag_seconds, "lastStoredAt": self.last_stored_at,
                "lastError": self.last_error, "reconnects": self.reconnects}


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; browsers do not


_JSON = json.JSONDecoder(parse_constant=_not_json)


def stream_sequence(message) -> int:
    """A JetStream message's stream sequence, read from its reply subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.…``, 9 tokens, or with domain and
    account hash, 12 or more) without building nats-py's whole metadata."""
    tokens = message.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 12:
        return int(tokens[7])
    return message.metadata.sequence.stream


class Organizations:
    """Organizations by slug, each read at most every ``seconds`` (STREAM_AUTH_RECHECK_SECONDS):
    a batch of one message does not pay a query for its company, and a company switched off or
    removed is seen within those seconds, as open streams see it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.known: dict[str, tuple[float, Organization | None]] = {}

    def by_slug(self, slugs) -> dict[str, Organization]:
        now = time.monotonic()
        stale = [slug for slug in slugs
                 if slug not in self.known or now - self.known[slug][0] > self.seconds]
        if stale:
            found = {org.slug: org for org in Organization.objects.filter(slug__in=stale)}
            if len(self.known) > 10_000:
                self.known.clear()
            for slug in stale:
                self.known[slug] = (now, found.get(slug))
        return {slug: self.known[slug][1] for slug in slugs if self.known[slug][1] is not None}


class Bridge:
    def __init__(self, *, url: str | None = None, stream: str | None = None,
                 durable: str | None = None, subjects: list[str] | None = None,
                 batch: int | None = None, out=None):
        self.state = BridgeState(url=url or settings.NATS_URL,
                                 stream=stream or settings.NATS_STREAM,
                                 durable=durable or settings.NATS_DURABLE,
                                 subjects=list(subjects or settings.NATS_SUBJECTS))
        self.batch = batch or settings.NATS_BATCH
        self.stopping = asyncio.Event()
        self.key = process_key(BRIDGE)
        self.started = timezone.now()
        self.out = out or (lambda line: logger.info("%s", line))
        self.organizations = Organizations(settings.STREAM_AUTH_RECHECK_SECONDS)
        self.nc = None
        self.js = None
        self.puller: Puller | None = None

    # --- running --------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        """Bridge until stopped, reconnecting forever with backoff."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self.stop)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        reporter = asyncio.ensure_future(self._report_loop())
        delay = 0.5
        try:
            while not self.stopping.is_set():
                try:
                    await self._connect()
                    delay = 0.5
                    await self._consume()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any failure: report, back off, retry
                    self.state.connected = False
                    self.state.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    self.out(f"NATS bridge: {self.state.last_error}; retrying in {delay:.1f} s")
                    await self._close()
                    self.state.reconnects += 1
                    try:
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
                    delay = min(delay * 2, 10.0) * random.uniform(0.8, 1.2)
        finally:
            await self._close()
            reporter.cancel()
            await run_db(report_remove, self.key)
            self.out("NATS bridge stopped")

    async def _connect(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
        from nats.js.errors import NotFoundError

        state = self.state

        async def disconnected():
            state.connected = False

        async def reconnected():
            state.connected = True
            state.reconnects += 1
            if self.puller is not None:
                await self.puller.ask()  # the outstanding request went with the connection

        async def error(exc):
            state.last_error = f"{type(exc).__name__}: {exc}"[:300]

        self.nc = await nats.connect(
            state.url, name=f"flagstream-bridge {state.durable}", connect_timeout=2,
            max_reconnect_attempts=-1, reconnect_time_wait=1, allow_reconnect=True,
            disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error)
        js = self.nc.jetstream()
        try:
            info = await js.stream_info(state.stream)
            missing = [s for s in state.subjects if s not in (info.config.subjects or [])]
            if missing:
                await js.update_stream(StreamConfig(
                    name=state.stream, subjects=list(info.config.subjects or []) + missing,
                    max_age=info.config.max_age))
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=state.stream, subjects=state.subjects,
                max_age=settings.STREAM_EVENT_RETENTION_HOURS * 3600.0))
        try:
            consumer = await js.consumer_info(state.stream, state.durable)
        except NotFoundError:
            consumer = await js.add_consumer(state.stream, ConsumerConfig(
                durable_name=state.durable, ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL, ack_wait=settings.NATS_ACK_WAIT_SECONDS,
                max_ack_pending=max(self.batch * 4, 1000)))
        del consumer  # made when missing; its settings are the operator's afterwards
        self.js = js
        self.puller = Puller(self.nc, state.stream, state.durable, self.batch)
        await self.puller.start()
        state.connected = True
        state.last_error = ""
        self.out(f"NATS bridge: reading {state.stream} ({', '.join(state.subjects)}) as "
                 f"{state.durable} from {url_shown(state.url)}")

    async def _close(self) -> None:
        nc, self.nc, puller, self.puller = self.nc, None, self.puller, None
        if nc is not None:
            if puller is not None and not nc.is_closed:
                await puller.give_back()
            try:
                await asyncio.wait_for(nc.close(), 5)
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.state.connected = False

    # --- consuming ------------------------------------------------------------------------

    async def _consume(self) -> None:
        while not self.stopping.is_set():
            messages = await self.puller.take(self.batch, timeout=1,
                                              linger=settings.NATS_LINGER_SECONDS)
            if messages:
                self.state.received += len(messages)
                await self._deliver(messages)

    async def _deliver(self, messages) -> None:
        """Store the batch (retrying until it is stored), then acknowledge every message."""
        while True:
            try:
                stored, duplicates, dropped, newest = await run_db(self._store, messages)
                break
            except Exception as exc:  # noqa: BLE001 - storage is down: hold the batch, retry
                self.state.last_error = f"storing: {type(exc).__name__}: {exc}"[:300]
                self.out(f"NATS bridge: could not store a batch ({self.state.last_error}); "
                         "retrying")
                for message in messages:
                    try:
                        await message.in_progress()
                    except Exception:  # noqa: BLE001 - NATS away too: redelivered later
                        pass
                try:
                    await asyncio.wait_for(self.stopping.wait(), 1.0)
                    return  # stopping: unacknowledged, JetStream delivers them again
                except asyncio.TimeoutError:
                    continue
        # Each message on its own: acknowledging "all up to" this one would also take
        # messages a dead bridge held, which JetStream redelivers later, out of order.
        for message in messages:
            await message.ack()
        state = self.state
        state.acknowledged += len(messages)
        state.stored += stored
        state.duplicates += duplicates
        for reason, count in dropped.items():
            state.dropped[reason] += count
        if newest is not None:
            state.lag_seconds = round(max(0.0, time.time() - newest), 3)
            state.last_stored_at = timezone.now().isoformat()

    def _store(self, messages):
        """(stored, duplicates, dropped per reason, newest publish time) of a batch (sync, on
        the DB pool)."""
        parsed, slugs, newest = [], set(), None
        dropped = dict.fromkeys(DROP_REASONS, 0)
        mapping, kinds = event_type_mapping(), {}
        last = messages[-1] if messages else None
        if last is not None and last.metadata.timestamp:  # the newest: the batch's lag
            newest = last.metadata.timestamp.timestamp()
        for message in messages:
            subject = message.subject
            if subject not in kinds:
                kinds[subject] = event_type_for(subject, mapping)
            reason, update = self._read(message, kinds[subject])
            if reason:
                dropped[reason] += 1
            else:
                parsed.append((stream_sequence(message), *update))
                slugs.add(update[0])
        organizations = self.organizations.by_slug(slugs)
        updates = []
        for sequence, company, kind, data in parsed:
            organization = organizations.get(company)
            if organization is None:
                dropped["unknown_company"] += 1
            elif not organization.streaming_enabled:
                dropped["disabled"] += 1
            else:
                updates.append((sequence, organization, kind, data))
        stored = bridged_updates_store(self.state.durable, updates) if updates else 0
        return stored, len(updates) - stored, dropped, newest

    @staticmethod
    def _read(message, kind: str | None):
        """``(None, (companyId, type, JSON text))`` of a message whose subject maps to
        ``kind``, or ``(reason dropped, None)``. The text is the message as published: a
        JSON object, checked here, whose ``companyId`` is the company."""
        if kind is None:
            return "unmapped", None
        try:
            text = message.data.decode()
            data = _JSON.decode(text)
        except (ValueError, UnicodeDecodeError):
            return "invalid", None
        if not isinstance(data, dict):
            return "invalid", None
        if not isinstance(data.get("companyId"), str) or not data["companyId"]:
            return "unknown_company", None
        try:
            company, kind, _ = update_checked({"companyId": data["companyId"], "type": kind,
                                               "data": data}, size=len(message.data))
        except ValidationError:
            return "invalid", None
        return None, (company, kind, text)

    # --- reporting ------------------------------------------------------------------------

    async def _report_loop(self) -> None:
        trimmed = time.monotonic()
        while True:
            if time.monotonic() - trimmed > 3600:
                trimmed = time.monotonic()
                try:
                    await run_db(bridged_messages_trim, self.state.durable)
                except Exception:  # noqa: BLE001 - next hour
                    logger.warning("could not trim the bridge's stored messages", exc_info=True)
            await self._report()
            await asyncio.sleep(settings.STREAM_PRESENCE_SECONDS)

    async def _report(self) -> None:
        js = self.js
        if js is not None and self.state.connected:
            try:
                info = await js.consumer_info(self.state.stream, self.state.durable)
                self.state.lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
            except Exception:  # noqa: BLE001 - NATS away: the lag is unknown for now
                self.state.lag = None
        try:
            await run_db(report_write, self.key, BRIDGE, self.state.figures(),
                         started=self.started)
        except Exception:  # noqa: BLE001 - the database away: next time
            logger.warning("could not write the bridge's report", exc_info=True)
