"""What the SDK reports: evaluations counted in memory, custom events queued, both flushed to
``POST /api/sdk/events`` every ``flush_interval`` seconds and on close.

Evaluations are counted per flag, variant, reason and context id (at most ``max_contexts``
distinct ones a window; beyond that, and for evaluations without a targeting key, per flag and
variant only, as a summary counter). Each flush is one payload with an id of its own; a flush
that fails (network, 5xx, 429) is kept and sent again, with the same id, before anything newer
— the server stores a payload once, so a retry is never counted twice. A payload the server
refuses (another 4xx) is dropped with a warning. At most ``max_pending`` payloads wait; the
oldest goes first when there are more.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import uuid
from collections import deque
from typing import Callable

logger = logging.getLogger("flagstream")

# What the server accepts (analytics/ingest.py): anything else would refuse the whole payload.
KEY = re.compile(r"^[A-Za-z0-9_.:\-/]{1,200}$")
REASON = re.compile(r"^[A-Z_]{1,40}$")


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class EventRecorder:
    def __init__(self, post: Callable[[dict, str], int], *, flush_interval: float = 10.0,
                 max_contexts: int = 10_000, max_events: int = 5_000, max_pending: int = 20):
        self._post = post  # (body, payload id) → HTTP status, or raises on a network error
        self.flush_interval = flush_interval
        self.max_contexts = max_contexts
        self.max_events = max_events
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._counts: dict[tuple, int] = {}  # (flag, variant, reason, context id) → n, raw
        self._events: list[dict] = []
        self._started: str | None = None
        self._pending: deque = deque(maxlen=max_pending)  # (payload id, body)
        self._stop = threading.Event()
        self.dropped_events = 0  # custom events past max_events in one window
        self.skipped = 0  # flag keys or event names the server would refuse
        self._thread = threading.Thread(target=self._run, name="flagstream-analytics",
                                        daemon=True)
        self._thread.start()

    def record(self, flag_key: str, variant: str | None, reason: str | None,
               context_id: str | None) -> None:
        """Count one evaluation. On every evaluation's path, so it only counts: keys are
        checked and cleaned once per flush, in :meth:`_take`."""
        key = (flag_key, variant, reason, context_id)
        with self._lock:
            if self._started is None:
                self._started = _now_iso()
            counts = self._counts
            n = counts.get(key)
            if n is None and context_id and len(counts) >= self.max_contexts:
                key = (flag_key, variant, reason, None)  # too many: a summary count only
                n = counts.get(key)
            counts[key] = (n or 0) + 1

    def track(self, name: str, context_id: str | None = None, value: float | None = None,
              details: dict | None = None) -> None:
        if not isinstance(name, str) or not KEY.match(name):
            self.skipped += 1
            return
        event = {"name": name, "timestamp": _now_iso()}
        if context_id:
            event["contextId"] = str(context_id)[:200]
        if value is not None:
            event["value"] = value
        if details:
            event["details"] = details
        with self._lock:
            if len(self._events) >= self.max_events:
                self.dropped_events += 1
                return
            self._events.append(event)

    def _take(self) -> dict | None:
        """What was recorded since the last flush, as one request body (None: nothing).
        Evaluations are checked here, once per distinct key: a flag key the server would
        refuse (it would refuse the whole payload) is skipped; a missing variant is "error"
        for an error and "default" otherwise; an unknown reason is UNKNOWN; those without a
        context id are summary counts."""
        with self._lock:
            raw, events, started = self._counts, self._events, self._started
            self._counts, self._events, self._started = {}, [], None
        counts: dict[tuple, int] = {}
        summary: dict[tuple, int] = {}
        for (flag, variant, reason, context), n in raw.items():
            if not isinstance(flag, str) or not KEY.match(flag):
                self.skipped += 1
                continue
            variant = (variant or ("error" if reason == "ERROR" else "default"))[:200]
            if context:
                reason = reason if reason and REASON.match(reason) else "UNKNOWN"
                key = (flag, variant, reason, str(context)[:200])
                counts[key] = counts.get(key, 0) + n
            else:
                summary[(flag, variant)] = summary.get((flag, variant), 0) + n
        if not (counts or summary or events):
            return None
        body: dict = {}
        if counts:
            body["evaluations"] = [
                {"flagKey": flag, "variant": variant, "reason": reason, "contextId": context,
                 "count": n, "timestamp": started} for (flag, variant, reason, context), n
                in counts.items()]
        if summary:
            flags: dict = {}
            for (flag, variant), n in summary.items():
                flags.setdefault(flag, {})[variant] = n
            body["summary"] = {"startDate": started, "endDate": _now_iso(), "flags": flags}
        if events:
            body["events"] = events
        return body

    def flush(self) -> bool:
        """Send what was recorded (and anything a failed flush left); True when nothing is
        left waiting."""
        body = self._take()
        with self._send_lock:
            if body is not None:
                if len(self._pending) == self._pending.maxlen:
                    logger.warning("flagstream: analytics not delivered; dropping the oldest "
                                   "payload")
                self._pending.append((uuid.uuid4().hex, body))
            while self._pending:
                payload_id, pending = self._pending[0]
                try:
                    status = self._post(pending, payload_id)
                except Exception as exc:  # noqa: BLE001 - network: keep it for the next flush
                    logger.info("flagstream: analytics flush failed (%s); will retry", exc)
                    return False
                if status in (200, 202):
                    self._pending.popleft()
                elif status == 429 or status >= 500:
                    return False  # keep, send again later with the same id
                else:
                    logger.warning("flagstream: analytics payload refused (HTTP %s); dropped",
                                   status)
                    self._pending.popleft()
            return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the flusher must not die
                logger.exception("flagstream: analytics flush")

    def close(self) -> None:
        """Stop the timer and flush what is left (once)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5)
        self.flush()
