"""Analytics benchmark: SDK events in through ``POST /api/sdk/events`` on a real server, and the
rollups over millions of raw rows.

(a) **Ingest**: keep-alive connections post for SECONDS each, one payload after the other (a
    unique payload id each): CLIENTS connections batches of 1,000 evaluation events, then of
    100, then SINGLE_CLIENTS connections single events (many SDKs at once); events/s (acknowledged, i.e. committed) and request latency p50/p99.
(b) **Storing a batch** of 1,000 in process, three ways, on the same database: what a Django
    developer would write first (``Model.objects.create`` per event in one transaction), the
    ORM's ``bulk_create``, and Flagstream's path (``analytics.services.events_ingest``: the
    payload row and one COPY/INSERT statement per table).
(c) **Rollups**: RAW_ROWS raw evaluation rows stored as SDKs send them (batches of 1,000, each
    from one 10-second flush; 20 flags x 3 variants, 50,000 contexts; the batches spread over
    the last 7 days), then one rollup over all of them (distinct contexts per hour and day
    included), then the rollup of a fresh 5 minutes' worth (1,500 rows: 3 million over 7
    days) and of 10,000 rows. For comparison, the time PostgreSQL (or SQLite) takes to read
    the hourly sums, and the hourly distinct contexts, straight from those raw rows.

Run: make bench-analytics   (PostgreSQL when DATABASE_URL is set: the issue's setting; a fresh
     database is made for the run. Without it: SQLite.)
     .venv/bin/python bench/analytics/run.py [--clients 16] [--single-clients 64] [--seconds 10] [--raw-rows 3000000]
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
import datetime, json, random, time, uuid
from django.conf import settings
from django.db import connection
from django.utils import timezone
from analytics import rollups
from analytics.ingest import Batch
from analytics.services import events_ingest
from flags.models import Environment
settings.ANALYTICS_ROLLUP_SETTLE_SECONDS = -1  # count what was just stored
env = Environment.objects.get(project__key="demo", key="development")
rng = random.Random(7)
now = timezone.now()
flags = ["flag-%02d" % n for n in range(20)]
def batch(n, start):
    # What one SDK flush holds: n evaluations from the 10 s after ``start``.
    stamps = [start + datetime.timedelta(seconds=s) for s in range(10)]
    return Batch(evaluations=[(flags[rng.randrange(20)], "abc"[rng.randrange(3)], "SPLIT",
                               "user-%d" % rng.randrange(50000), 1, None,
                               stamps[rng.randrange(10)]) for _ in range(n)],
                 single_evaluations=n)
rollups.rollups_run()  # earlier rows out of the way
span = 7 * 86400 - 3600
batches = RAW_ROWS // 1000
started = time.perf_counter()
for b in range(batches):
    events_ingest(env, uuid.uuid4().hex,
                  batch(1000, now - datetime.timedelta(seconds=span - b * span // batches)))
out = {"raw_rows": batches * 1000, "write_s": time.perf_counter() - started}
table = "analytics_evaluationevent"
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
# For comparison: the same figures read from the raw rows by the database.
hour = ("date_trunc('hour', timestamp)" if connection.vendor == "postgresql"
        else "strftime('%Y-%m-%d %H', timestamp)")
for name, sql in (
        ("sql_sums_s", f"SELECT environment_id, flag_key, variant, reason, {hour}, "
                       f"SUM(count) FROM {table} GROUP BY 1, 2, 3, 4, 5"),
        ("sql_distinct_s", f"SELECT environment_id, flag_key, variant, {hour}, "
                           f"COUNT(DISTINCT context_id) FROM {table} GROUP BY 1, 2, 3, 4")):
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.fetchall()
    out[name] = time.perf_counter() - started
started = time.perf_counter()
result = rollups.rollups_run()
out["full_s"] = time.perf_counter() - started
out["full_rows"] = result.evaluation_rows
for name, n in (("five_minutes", 1500), ("ten_thousand", 10000)):
    for k in range(0, n, 1000):
        events_ingest(env, uuid.uuid4().hex, batch(min(1000, n - k), now - datetime.timedelta(
            seconds=rng.randrange(290))))
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
    parser.add_argument("--clients", type=int, default=16,
                        help="connections posting batches (SDK instances flushing at once)")
    parser.add_argument("--single-clients", type=int, default=64,
                        help="connections posting one event each (many SDKs at once)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--raw-rows", type=int, default=3_000_000)
    parser.add_argument("--store-rounds", type=int, default=5)
    parser.add_argument("--sizes", default="1000,100,1",
                        help="events a request, comma-separated (1: single events)")
    parser.add_argument("--only", choices=["ingest", "rollup"],
                        help="run one part: ingest is (a) and (b), rollup is (c)")
    args = parser.parse_args()
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "SQLite"
    print(f"Analytics: ingest and rollups on {database}; one server process, {args.clients} "
          f"connections posting batches, {args.single_clients} posting single events; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        stack = LiveStack(Path(tmp) / "var", extra_env={
            "ANALYTICS_RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING",
            "ANALYTICS_MAX_ITEMS": "10000"})
        with stack.running():
            key = stack.credentials["keys"]["development"]["server"]
            rows, ways, rollup = [], {}, None
            if args.only != "rollup":
                rows = [asyncio.run(ingest(
                    stack.base_url, key, size, args.clients if size > 1 else args.single_clients,
                    args.seconds)) for size in map(int, args.sizes.split(","))]
                body = batch_body(1000, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), 1)
                ways = shell_result(stack, f"BODY = {body.decode()!r}\nROUNDS = "
                                           f"{args.store_rounds}\n{STORE_WAYS}")
            if args.only != "ingest":
                rollup = shell_result(stack, f"RAW_ROWS = {args.raw_rows}\n{ROLLUP}")
    if rows:
        print("(a) POST /api/sdk/events (events a request 1: POST /api/sdk/events with one "
              "evaluation)")
        print(f"{'events a request':>18}{'events/s':>12}{'requests':>10}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'failed':>8}{'target':>10}{'':>8}")
        for row in rows:
            target = TARGET_SINGLE if row["size"] == 1 else TARGET_BATCHED
            verdict = "met" if row["events_per_s"] >= target else "MISSED"
            print(f"{row['size']:>18,}{row['events_per_s']:>12,.0f}{row['requests']:>10,}"
                  f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['failed']:>8}"
                  f"{target:>10,}{verdict:>8}")
        print("\n(b) storing one batch of 1,000 evaluation events (median of "
              f"{args.store_rounds}), in process")
        for name, seconds in ways.items():
            print(f"{name:>30}{seconds * 1000:>10.1f} ms{1000 / seconds:>12,.0f} events/s")
    if rollup:
        print(f"\n(c) rollups over {rollup['raw_rows']:,} raw rows (stored in "
              f"{rollup['write_s']:.1f} s through events_ingest)")
        for label, seconds, target in (
                ("all of them", rollup["full_s"], 2.0),
                ("the next 5 minutes (1,500 rows)", rollup["five_minutes_s"], 0.1),
                ("10,000 new rows", rollup["ten_thousand_s"], None)):
            verdict = "" if target is None else \
                f"target < {target * 1000:,.0f} ms: {'met' if seconds < target else 'MISSED'}"
            print(f"{label:>34}{seconds * 1000:>10,.0f} ms   {verdict}")
        print(f"{'for comparison, read from the raw rows by SQL:':>34}")
        print(f"{'hourly sums (GROUP BY)':>34}{rollup['sql_sums_s'] * 1000:>10,.0f} ms")
        print(f"{'hourly distinct contexts':>34}{rollup['sql_distinct_s'] * 1000:>10,.0f} ms")
    return 0 if not any(row["failed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
