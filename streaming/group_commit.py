"""Group commit: one writer thread per server process commits together what requests hand in
at the same moment, so that many small writes pay one transaction and one commit.

A request hands its item to ``answer`` and awaits the asyncio future it returns (an ASGI path),
or to ``submit`` from a thread. The writer takes what is queued, up to ``limit()`` in
weight, and calls ``write(items)``, which stores them (its own transaction) and returns one
answer per item (an exception for an item that failed alone). If ``write`` raises, every item
of the group gets that error. Every answer is given after the commit that stored its item.

Used by the agent-session ingest (sessions_app.ingest_writer) and the SDK analytics ingest
(analytics.writer).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from django.db import connection

from .db import writer_turn

logger = logging.getLogger(__name__)
IDLE_SECONDS = 2.0


class GroupCommitter:
    name = "group-commit"

    def __init__(self):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # for tests and curiosity: how many groups were committed
        self.events = 0  # and how many items they held

    # What a writer defines.
    def write(self, items: list) -> list:
        raise NotImplementedError

    def limit(self) -> int:
        """How much weight one group may hold."""
        return 200

    def weight(self, item) -> int:
        return 1

    # Handing items in.
    def submit(self, item, timeout: float = 60):
        """Hand ``item`` to the writer and wait for its answer (after the commit)."""
        return self.enqueue(item).result(timeout)

    def enqueue(self, item) -> Future:
        """Hand ``item`` to the writer; the future is its answer, set after the commit."""
        self._ensure_started()
        future: Future = Future()
        self.queue.put((item, future))
        return future

    def answer(self, item) -> "asyncio.Future":
        """``enqueue`` for a coroutine: an asyncio future of the running loop. The answers of a
        group reach each loop in one call (not one wake-up of the loop per request)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.put((item, (loop, future)))
        return future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                # Idle: give the database connection back (a server restarting, or a test
                # database being dropped, finds none left open); the next group opens one.
                connection.close()
                first = self.queue.get()
            group, room = [first], self.limit() - self.weight(first[0])
            while room > 0:
                try:
                    entry = self.queue.get_nowait()
                except queue.Empty:
                    break
                group.append(entry)
                room -= self.weight(entry[0])
            self._commit(group)

    def _commit(self, group: list) -> None:
        try:
            with writer_turn():
                answers = self.write([item for item, _ in group])
        except Exception as exc:  # noqa: BLE001 - the commit failed: every request is told
            logger.exception("%s: a group of %d could not be committed", self.name, len(group))
            connection.close()  # the next group starts on a fresh connection
            answers = [exc] * len(group)
        else:
            self.batches += 1
            self.events += len(group)
        by_loop: dict = {}
        for (_, future), answer in zip(group, answers):
            if isinstance(future, tuple):  # (loop, asyncio future): set on its loop, below
                by_loop.setdefault(future[0], []).append((future[1], answer))
            else:
                _settle(future, answer)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass


def _settle(future, answer) -> None:
    if isinstance(answer, Exception):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _settle_all(settled: list) -> None:
    for future, answer in settled:
        if not future.done():  # a request whose client left was cancelled
            _settle(future, answer)
