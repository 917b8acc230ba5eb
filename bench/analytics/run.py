"""Analytics benchmark: SDK events in through ``POST /api/sdk/events`` on a real server, and the
rollups over millions of raw rows.

(a) **Ingest**: CLIENTS keep-alive connections post for SECONDS each, one payload after the
    other (a unique payload id each): batches of 1,000 evaluation events, of 100, and single
    events; events/s (acknowledged, i.e. committed) and request latency p50/p99.
(b) **Storing a batch** of 1,000 in process, three ways, on the same database: what a Django
    developer would write first (``Model.objects.create`` per event in one transaction), the
    ORM's ``bulk_create``, and Flagstream's path (``analytics.services.events_ingest``: the
    payload row and one COPY/INSERT statement per table).
(c) **Rollups**: RAW_ROWS raw evaluation rows (20 flags x 3 variants, 50,000 contexts, spread
    over the last 7 days) written straight to the table, then one rollup over all of them
    (distinct contexts per hour and day included), then the rollup of a fresh 5 minutes'
    worth (1,500 rows: 3 million over 7 days) and of 10,000 rows.

Run: make bench-analytics   (PostgreSQL when DATABASE_URL is set: the issue's setting; a fresh
     database is made for the run. Without it: SQLite.)
     .venv/bin/python bench/analytics/run.py [--clients 4] [--seconds 10] [--raw-rows 3000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.ingest.run import Connection, percentile  # noqa: E402
from tests.live import LiveStack  # noqa: E402

TARGET_BATCHED, TARGET_SINGLE = 30_000, 1_500
FLAGS = [f"flag-{n:02d}" for n in range(20)]
VARIANTS = ["a", "b", "c"]


def batch_body(size: int, stamp: str, serial: int) -> bytes:
    return json.dumps({"evaluations": [
        {"flagKey": FLAGS[(serial + n) % 20], "variant": VARIANTS[n % 3],
         "reason": "SPLIT", "contextId": f"user-{(serial * 7919 + n) % 50_000}",
         "timestamp": stamp} for n in range(size)]}).encode()


async def ingest(url: str, key: str, size: int, clients: int, seconds: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    latencies: list[float] = []
    failures: list[int] = []
    deadline = time.perf_counter() + seconds

    async def client(index: int):
        serial = index * 1_000_000
        async with Connection(host, int(port), key, "/api/sdk/events") as connection:
            while time.perf_counter() < deadline:
                serial += 1
                body = batch_body(size, stamp, serial)
                started = time.perf_counter()
                status = await connection.post(
                    body, b"X-Payload-Id: %s\r\n" % uuid.uuid4().hex.encode())
                if status == 202:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures.append(status)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    return {"size": size, "requests": len(latencies), "events_per_s": len(latencies) * size
            / elapsed, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000, "failed": len(failures)}


STORE_WAYS = """
import json, time, uuid
from django.db import transaction
from django.utils import timezone
from analytics.ingest import batch_read
from analytics.models import EvaluationEvent
from analytics.services import events_ingest
from flags.models import Environment
env = Environment.objects.get(project__key="demo", key="development")
now = timezone.now()
body = json.loads(BODY)
batch = batch_read(body)
def objects():
    return [EvaluationEvent(environment=env, flag_key=f, variant=v, reason=r, context_id=c,
                            count=n, value=val, timestamp=ts, received_at=now)
            for f, v, r, c, n, val, ts in batch.evaluations]
def create_each():
    with transaction.atomic():
        for item in objects():
            item.save()
def bulk():
    with transaction.atomic():
        EvaluationEvent.objects.bulk_create(objects())
def ours():
    events_ingest(env, uuid.uuid4().hex, batch)
out = {}
for name, way in (("create per event", create_each), ("bulk_create", bulk),
                  ("flagstream (events_ingest)", ours)):
    way()  # warm
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        way()
        times.append(time.perf_counter() - started)
    times.sort()
    out[name] = times[len(times) // 2]
print("RESULT " + json.dumps(out))
"""

ROLLUP = """
import datetime, json, random, time
from django.db import connection
from django.utils import timezone
from analytics import rollups
from analytics.models import EvaluationEvent
from flags.models import Environment
from streaming.rows import rows_insert
COLUMNS = ["environment_id", "flag_key", "variant", "reason", "context_id", "count", "value",
           "timestamp", "received_at"]
env = Environment.objects.get(project__key="demo", key="development").pk
rng = random.Random(7)
now = timezone.now()
old = now - datetime.timedelta(minutes=10)
flags = ["flag-%02d" % n for n in range(20)]
def rows(n, spread_seconds, received):
    return [[env, flags[rng.randrange(20)], "abc"[rng.randrange(3)], "SPLIT",
             "user-%d" % rng.randrange(50000), 1, None,
             now - datetime.timedelta(seconds=rng.randrange(spread_seconds)), received]
            for _ in range(n)]
rollups.rollups_run()  # earlier rows out of the way
started = time.perf_counter()
for chunk in range(0, RAW_ROWS, 100000):
    rows_insert(EvaluationEvent, COLUMNS, rows(min(100000, RAW_ROWS - chunk), 7 * 86400 - 3600, old))
written = time.perf_counter() - started
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE analytics_evaluationevent")
out = {"raw_rows": RAW_ROWS, "write_s": written}
started = time.perf_counter()
result = rollups.rollups_run()
out["full_s"] = time.perf_counter() - started
out["full_rows"] = result.evaluation_rows
for name, n in (("five_minutes", 1500), ("ten_thousand", 10000)):
    rows_insert(EvaluationEvent, COLUMNS, rows(n, 300, old))
    started = time.perf_counter()
    result = rollups.rollups_run()
    out[name + "_s"] = time.perf_counter() - started
    out[name + "_rows"] = result.evaluation_rows
print("RESULT " + json.dumps(out))
"""


def shell_result(stack: LiveStack, code: str, timeout: float = 3600) -> dict:
    output = stack.manage("shell", "-c", code, timeout=timeout)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--raw-rows", type=int, default=3_000_000)
    parser.add_argument("--store-rounds", type=int, default=5)
    args = parser.parse_args()
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "SQLite"
    print(f"Analytics: ingest and rollups on {database}; one server process, {args.clients} "
          f"clients; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        stack = LiveStack(Path(tmp) / "var", extra_env={
            "ANALYTICS_RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING",
            "ANALYTICS_MAX_ITEMS": "10000"})
        with stack.running():
            key = stack.credentials["keys"]["development"]["server"]
            rows = [asyncio.run(ingest(stack.base_url, key, size, args.clients, args.seconds))
                    for size in (1000, 100, 1)]
            body = batch_body(1000, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), 1)
            ways = shell_result(stack, f"BODY = {body.decode()!r}\nROUNDS = "
                                       f"{args.store_rounds}\n{STORE_WAYS}")
            rollup = shell_result(stack, f"RAW_ROWS = {args.raw_rows}\n{ROLLUP}")
    print("(a) POST /api/sdk/events")
    print(f"{'events a request':>18}{'events/s':>12}{'requests':>10}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'failed':>8}{'target':>10}")
    for row in rows:
        target = TARGET_SINGLE if row["size"] == 1 else TARGET_BATCHED
        print(f"{row['size']:>18,}{row['events_per_s']:>12,.0f}{row['requests']:>10,}"
              f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['failed']:>8}{target:>10,}")
    print("\n(b) storing one batch of 1,000 evaluation events (median of "
          f"{args.store_rounds}), in process")
    for name, seconds in ways.items():
        print(f"{name:>30}{seconds * 1000:>10.1f} ms{1000 / seconds:>12,.0f} events/s")
    print(f"\n(c) rollups over {rollup['raw_rows']:,} raw rows (written in "
          f"{rollup['write_s']:.1f} s)")
    print(f"{'all of them':>30}{rollup['full_s']:>10.2f} s   (target < 2 s)")
    print(f"{'5 minutes (1,500 rows)':>30}{rollup['five_minutes_s'] * 1000:>10.1f} ms  "
          "(target < 100 ms)")
    print(f"{'10,000 new rows':>30}{rollup['ten_thousand_s'] * 1000:>10.1f} ms")
    return 0 if not any(row["failed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
