"""Messages of a JetStream pull consumer, kept coming by one pull request at a time.

nats-py's ``PullSubscription.fetch`` waits for each message with a task, a timeout and a
uuid of its own: at ten thousand messages a second that was a fifth of the bridge's time. Here
one pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``, ``batch`` messages,
expiring after EXPIRES seconds) is always outstanding; its messages land on one inbox whose
callback only queues them, and a new request goes out when the last one is filled or ends
(408 expired, 409 …). Messages arrive in the consumer's order; JetStream's
``max_ack_pending`` bounds how many are unacknowledged at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque

logger = logging.getLogger(__name__)

HEARTBEAT = "100"


class Puller:
    EXPIRES = 5.0  # seconds a pull request stays open on the server

    def __init__(self, nc, stream: str, consumer: str, batch: int):
        self.nc, self.batch = nc, batch
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self.ready: deque = deque()
        self.arrived = asyncio.Event()
        self.remaining = 0  # what the outstanding request may still bring
        self.asked_at = 0.0
        self.subscription = None
        self.last_status = ""

    async def start(self) -> None:
        self.subscription = await self.nc.subscribe(self.inbox, cb=self._on_message)
        await self.ask()

    async def ask(self) -> None:
        """Send a pull request for ``batch`` messages (after a reconnect, or when one ends)."""
        self.remaining = self.batch
        self.asked_at = time.monotonic()
        await self.nc.publish(self.subject, json.dumps(
            {"batch": self.batch, "expires": int(self.EXPIRES * 1e9)}).encode(),
            reply=self.inbox)

    async def _on_message(self, message) -> None:
        status = message.headers.get("Status") if message.headers else None
        if status is None:
            self.ready.append(message)
            self.arrived.set()
            self.remaining -= 1
            if self.remaining <= 0:
                await self.ask()
        elif status != HEARTBEAT:  # the request is over: expired, or refused (409 …)
            description = message.headers.get("Description", "")
            self.last_status = f"{status} {description}".strip()
            if status not in ("404", "408"):
                logger.warning("pull request ended: %s", self.last_status)
                await asyncio.sleep(0.5)  # a refusal: do not ask again in a tight loop
            await self.ask()

    async def take(self, limit: int, timeout: float = 1.0, linger: float = 0.0) -> list:
        """Up to ``limit`` messages, in order: those waiting, or the first to come within
        ``timeout`` seconds (then an empty list). With fewer than ``limit`` waiting, wait
        ``linger`` seconds for more first: a batch of several costs every later step (store,
        fan-out, each client's write) about what a batch of one does."""
        if not self.ready:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                if time.monotonic() - self.asked_at > self.EXPIRES + 2:
                    await self.ask()  # its end never came (a reconnect lost it): ask again
                return []
        if linger > 0 and len(self.ready) < limit:
            await asyncio.sleep(linger)
        ready = self.ready
        return [ready.popleft() for _ in range(min(limit, len(ready)))]

    async def give_back(self) -> None:
        """Tell JetStream to deliver again, at once, what was received and not taken."""
        while self.ready:
            try:
                await self.ready.popleft().nak()
            except Exception:  # noqa: BLE001 - redelivered after ack_wait anyway
                return
