"""Group commit for live ingest: one writer thread per server process commits the events that
requests hand in at the same moment, up to ``INGEST_BATCH_SIZE`` in one transaction.

Agent CLIs send every message at once. One transaction per request made them queue for the
database's write lock (SQLite: on its busy timeout, one at a time) and pay a commit each; one
writer with batches pays one commit for many and never waits for a lock held by itself.

Each event still runs in a savepoint of its own: a copy of an event already recorded (in an
earlier batch or earlier in the same one) is rolled back alone and answered with the first
copy's answer once the batch has committed. Every request is answered only after the commit
that stored its event; if that commit fails, every request of the batch gets the error (a
5xx, which the CLI retries).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Callable

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from tenancy.models import APIKey

from .envelope import Event

logger = logging.getLogger(__name__)
IDLE_SECONDS = 2.0


class IngestWriter:
    """``apply(api_key, event)`` stores one event and returns its answer (IntegrityError for
    a copy); ``first_answer(api_key, event)`` is a copy's answer (sessions_app.services)."""

    def __init__(self, apply: Callable, first_answer: Callable,
                 batched: Callable = lambda event: False, apply_many: Callable | None = None):
        self.apply = apply
        self.first_answer = first_answer
        # Events ``batched`` says yes to (messages) are applied together by ``apply_many``,
        # which answers None for a copy; if it meets a conflict (another process recorded
        # one of them meanwhile), they are applied one by one instead.
        self.batched = batched
        self.apply_many = apply_many
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # for tests and curiosity: how many transactions were committed
        self.events = 0

    def submit(self, api_key: APIKey, event: Event, timeout: float = 60):
        """Hand ``event`` to the writer and wait for its answer (after the commit)."""
        return self.enqueue(api_key, event).result(timeout)

    def enqueue(self, api_key: APIKey, event: Event) -> Future:
        """Hand ``event`` to the writer; the future is its answer, set after the commit."""
        self._ensure_started()
        future: Future = Future()
        self.queue.put((api_key, event, future))
        return future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ingest-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                # Idle: give the database connection back (a server restarting, or a test
                # database being dropped, finds none left open); the next batch opens one.
                connection.close()
                first = self.queue.get()
            batch = [first]
            while len(batch) < settings.INGEST_BATCH_SIZE:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch) -> None:
        answers: list = [None] * len(batch)
        together = [i for i, (_, event, _) in enumerate(batch)
                    if self.apply_many is not None and self.batched(event)]
        alone = [i for i in range(len(batch)) if i not in set(together)]
        try:
            with transaction.atomic():
                if together:
                    try:
                        with transaction.atomic():
                            applied = self.apply_many([batch[i][:2] for i in together])
                        for i, answer in zip(together, applied):
                            answers[i] = answer
                    except Exception as exc:  # noqa: BLE001 - then one by one: a bad one fails alone
                        if not isinstance(exc, IntegrityError):
                            logger.warning("a batch of %d events failed together (%s); "
                                           "applying them one by one", len(together), exc)
                        alone += together
                for i in alone:
                    api_key, event, _ = batch[i]
                    try:
                        with transaction.atomic():
                            answers[i] = self.apply(api_key, event)
                    except IntegrityError:
                        answers[i] = None  # a copy: answered after the commit
                    except Exception as exc:  # noqa: BLE001 - this event fails, not the batch
                        logger.exception("ingest of %s failed", event.key)
                        answers[i] = exc
        except Exception as exc:  # noqa: BLE001 - the commit failed: every request is told
            logger.exception("an ingest batch of %d events could not be committed", len(batch))
            connection.close()  # the next batch starts on a fresh connection
            for _, _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.events += len(batch)
        for (api_key, event, future), answer in zip(batch, answers):
            try:
                if answer is None:
                    answer = self.first_answer(api_key, event)
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
            except Exception as exc:  # noqa: BLE001
                future.set_exception(exc)

