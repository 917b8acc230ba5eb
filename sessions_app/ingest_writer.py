"""Group commit for live ingest (streaming.group_commit): one writer thread per server process
commits the events that requests hand in at the same moment, up to ``INGEST_BATCH_SIZE`` in one
transaction.

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
from concurrent.futures import Future
from typing import Callable

from django.conf import settings
from django.db import IntegrityError, transaction

from streaming.group_commit import GroupCommitter
from tenancy.models import APIKey

from .envelope import Event

logger = logging.getLogger(__name__)


class IngestWriter(GroupCommitter):
    """``apply(api_key, event)`` stores one event and returns its answer (IntegrityError for
    a copy); ``first_answer(api_key, event)`` is a copy's answer (sessions_app.services)."""

    name = "ingest-writer"

    def __init__(self, apply: Callable, first_answer: Callable,
                 batched: Callable = lambda event: False, apply_many: Callable | None = None,
                 lock: Callable = lambda batch: {}):
        super().__init__()
        self.apply = apply
        self.first_answer = first_answer
        # Called first in each batch's transaction with the batch: takes the rows its events
        # will update in one order, so two processes' writers never wait on each other; what
        # it returns is handed to ``apply_many`` with the events.
        self.lock = lock
        # Events ``batched`` says yes to (messages) are applied together by ``apply_many``,
        # which answers None for a copy; if it meets a conflict (another process recorded
        # one of them meanwhile), they are applied one by one instead.
        self.batched = batched
        self.apply_many = apply_many

    def limit(self) -> int:
        return settings.INGEST_BATCH_SIZE

    def submit(self, api_key: APIKey, event: Event, timeout: float = 60):
        """Hand ``event`` to the writer and wait for its answer (after the commit)."""
        return self.enqueue(api_key, event).result(timeout)

    def enqueue(self, api_key: APIKey, event: Event) -> Future:
        """Hand ``event`` to the writer; the future is its answer, set after the commit."""
        return super().enqueue((api_key, event))

    def write(self, batch: list) -> list:
        answers: list = [None] * len(batch)
        together = [i for i, (_, event) in enumerate(batch)
                    if self.apply_many is not None and self.batched(event)]
        alone = [i for i in range(len(batch)) if i not in set(together)]
        with transaction.atomic():
            locked = self.lock(batch)
            if together:
                try:
                    with transaction.atomic():
                        applied = self.apply_many([batch[i] for i in together], locked)
                    for i, answer in zip(together, applied):
                        answers[i] = answer
                except Exception as exc:  # noqa: BLE001 - then one by one: a bad one fails alone
                    if not isinstance(exc, IntegrityError):
                        logger.warning("a batch of %d events failed together (%s); "
                                       "applying them one by one", len(together), exc)
                    alone += together
            for i in alone:
                api_key, event = batch[i]
                try:
                    with transaction.atomic():
                        answers[i] = self.apply(api_key, event)
                except IntegrityError:
                    answers[i] = None  # a copy: answered after the commit
                except Exception as exc:  # noqa: BLE001 - this event fails, not the batch
                    logger.exception("ingest of %s failed", event.key)
                    answers[i] = exc
        for i, ((api_key, event), answer) in enumerate(zip(batch, answers)):
            if answer is None:
                try:
                    answers[i] = self.first_answer(api_key, event)
                except Exception as exc:  # noqa: BLE001
                    answers[i] = exc
        return answers
