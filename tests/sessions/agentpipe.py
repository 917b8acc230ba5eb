"""Sends recorded envelopes the way the AgentPipe CLI's bridge does (internal/bridge/ of
kevinelliott/agentpipe): ``POST {url}/api/ingest`` with only ``Content-Type`` and
``Authorization: Bearer <key>``; ``conversation.started`` and every ``message.created`` from a
goroutine of its own (here: a thread each, all at once); success is 200 or 201 only; a 4xx is
never retried; network errors and 5xx are retried three times after 1, 2 and 4 s.

``duplicate`` re-sends some events (what a late success plus a retry looks like) and
``shuffle`` mixes the order further. Used by the live tests and ``bench/ingest``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

BACKOFF = (1, 2, 4)


@dataclass
class Outcome:
    sent: int = 0
    succeeded: int = 0
    lost: list = field(default_factory=list)  # (event type, status) of events given up on
    latencies: list = field(default_factory=list)  # seconds per successful POST
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(client: httpx.Client, url: str, key: str, event: dict, outcome: Outcome,
         backoff=BACKOFF) -> None:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    for attempt in range(len(backoff) + 1):
        started = time.perf_counter()
        try:
            response = client.post(f"{url}/api/ingest", content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = None
        with outcome.lock:
            outcome.sent += 1
            if status in (200, 201):
                outcome.succeeded += 1
                outcome.latencies.append(time.perf_counter() - started)
                return
        if status is not None and 400 <= status < 500:
            break  # the CLI never retries a 4xx
        if attempt < len(backoff):
            time.sleep(backoff[attempt])
    with outcome.lock:
        outcome.lost.append((event["type"], status))


def replay(url: str, key: str, events: list[dict], *, duplicate: int = 0, shuffle: bool = False,
           seed: int = 0, client: httpx.Client | None = None,
           outcome: Outcome | None = None) -> Outcome:
    """Send one conversation's ``events`` (started, messages…, completed) as the CLI would."""
    rng = random.Random(seed)
    outcome = outcome or Outcome()
    own_client = client is None
    client = client or httpx.Client(timeout=30)
    concurrent = [e for e in events if e["type"] in ("conversation.started", "message.created")]
    rest = [e for e in events if e not in concurrent]
    concurrent = concurrent + rng.sample(concurrent, min(duplicate, len(concurrent)))
    if shuffle:
        rng.shuffle(concurrent)
    threads = [threading.Thread(target=send, args=(client, url, key, event, outcome))
               for event in concurrent]
    for thread in threads:
        thread.start()
    for event in rest + (rng.sample(rest, 1) if duplicate and rest else []):
        send(client, url, key, event, outcome)  # errors and the end: from the main goroutine
    for thread in threads:
        thread.join()
    if own_client:
        client.close()
    return outcome
