"""Many SSE clients that behave as EventSource does: each reconnects after any failure with
``Last-Event-ID`` set to the last id it received, for the fault tests (tests/e2e/
test_live_faults.py). All run as asyncio tasks on one background thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
from httpx_sse import aconnect_sse


class ResumingClients:
    def __init__(self, url: str, headers: dict, count: int, events=("flag_updated",)):
        self.url, self.headers, self.count = url, headers, count
        self.events = set(events)
        self.received: list[list[tuple[str, dict]]] = [[] for _ in range(count)]
        self.reconnects = [0] * count
        self.refused: list[int] = []
        self.open = [False] * count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    async def _main(self):
        limits = httpx.Limits(max_connections=self.count + 10)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60), limits=limits) as http:
            await asyncio.gather(*(self._client(http, n) for n in range(self.count)))

    async def _client(self, http: httpx.AsyncClient, n: int):
        last = None
        while not self._stop.is_set():
            headers = dict(self.headers)
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with aconnect_sse(http, "GET", self.url, headers=headers) as source:
                    status = source.response.status_code
                    if status != 200:
                        self.refused.append(status)
                        await source.response.aread()
                    else:
                        self.open[n] = True
                        async for sse in source.aiter_sse():
                            if self._stop.is_set():
                                return
                            if sse.data and sse.event in self.events:
                                self.received[n].append((sse.id, json.loads(sse.data)))
                            if sse.id:
                                last = sse.id
            except (httpx.HTTPError, OSError):
                pass
            self.open[n] = False
            self.reconnects[n] += 1
            await asyncio.sleep(0.25)  # EventSource's retry is longer; a test has no time

    def wait_open(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.open):
            assert time.monotonic() < deadline, f"{self.open.count(False)} clients not open"
            time.sleep(0.1)

    def wait_for(self, predicate, timeout: float = 60) -> bool:
        """Until ``predicate(received)`` holds for every client, or the time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(predicate(events) for events in self.received):
                return True
            time.sleep(0.2)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def sequence_of(event_id: str) -> int:
    """The per-channel sequence number an event id ends with (``<channel>:<n>``)."""
    return int(event_id.rsplit(":", 1)[1])


def exactly_once_in_order(events: list[tuple[str, dict]], values: list) -> list[str]:
    """What is wrong with one client's events, given the rule values published in order."""
    problems = []
    seen = [data["flag"]["rules"][0]["constraints"][0]["values"][0] for _, data in events]
    if seen != values:
        missing = [v for v in values if v not in seen]
        repeated = sorted({v for v in seen if seen.count(v) > 1})
        problems.append(f"{len(seen)} events: missing {missing[:5]}, repeated {repeated[:5]}")
    numbers = [sequence_of(event_id) for event_id, _ in events]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))) if numbers else []:
        problems.append(f"ids not contiguous: {numbers[:10]}…")
    return problems
