"""Task-stream benchmark: N task streams each receiving RATE chunks a second for SECONDS, on one
server process, side by side with the same load on the flag SSE path (N flag streams of one
environment, RATE flag changes a second: the same N x RATE deliveries a second).

For each path it starts a fresh `manage.py serve` (embedded mode, as `make run`), opens the N
streams from one client process (plain sockets, bench/tasks/clients.py), then runs the writer
(bench/tasks/producer.py, its own process, through the product's services) and records when
every event arrives. Reported: events delivered and lost, delivery latency p50/p99/max (send
time to arrival), the server's CPU seconds over the run and per delivered message, and the
writer's and clients' CPU.

Run: make bench-tasks   (or .venv/bin/python bench/tasks/run.py --streams 1000 --rates 20,4
     --seconds 30 [--database-url postgres://… --redis-url redis://…]: the database is emptied)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.fanout.run import Environment, Server, cpu_seconds, rss_kb  # noqa: E402
from tests.live import free_port  # noqa: E402

PY = sys.executable
HERE = Path(__file__).parent


def producer(bench, *args, **popen) -> subprocess.Popen:
    return subprocess.Popen([PY, str(HERE / "producer.py"), *map(str, args)], cwd=ROOT,
                            env=bench.env, stdout=subprocess.PIPE, text=True, **popen)


def run_path(name, bench, streams, rate, seconds, paths, headers, ready, writer_args):
    port = free_port()
    server = Server("flagstream", bench, port)
    row = {"path": name, "streams": streams, "rate": rate}
    try:
        argv = [PY, str(HERE / "clients.py"), "--port", str(port), "--count", str(streams),
                "--ready", ready]
        for header in headers:
            argv += ["--header", header]
        clients = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        clients.stdin.write("".join(p + "\n" for p in paths))
        clients.stdin.flush()
        opened = json.loads(clients.stdout.readline())
        row["connected"] = opened["connected"]
        time.sleep(1)
        clients.stdin.write("go\n")
        clients.stdin.flush()
        watched = {"server": server.pid, "clients": clients.pid}
        before = {label: cpu_seconds(pid) for label, pid in watched.items()}
        writer = producer(bench, *writer_args)
        writer_cpu = 0.0
        while writer.poll() is None:  # the writer's CPU, read while it still exists
            writer_cpu = cpu_seconds(writer.pid)
            time.sleep(0.5)
        sent = json.loads(writer.stdout.read())
        expected = len(sent["sent"]) * opened["connected"]
        # Let the deliveries finish: stop when nothing is left or after 60 s.
        deadline = time.time() + 60
        settle_cpu = cpu_seconds(server.pid)
        while time.time() < deadline:
            time.sleep(1)
            now_cpu = cpu_seconds(server.pid)
            if now_cpu - settle_cpu < 0.05:
                break
            settle_cpu = now_cpu
        used = {label: cpu_seconds(pid) - before[label] for label, pid in watched.items()}
        row["rss_mb"] = round(rss_kb(server.pid) / 1024)
        clients.stdin.write("stop\n")
        clients.stdin.flush()
        got = json.loads(clients.stdout.readline())
        clients.wait(30)
    finally:
        server.stop()
    base, times = sent["base"], sent["sent"]
    latencies = sorted(arrival - times[i - base - 1] for i, arrival in
                       zip(got["ids"], got["arrivals"]) if 0 < i - base <= len(times))
    delivered = len(latencies)
    row.update({
        "ticks": len(times), "late_ticks": sent["late"],
        "offered_per_s": round(len(times) * opened["connected"] /
                               (times[-1] - times[0] + 1 / rate)) if times else 0,
        "expected": expected, "delivered": delivered,
        "lost": expected - delivered if delivered <= expected else 0,
        "extra": max(0, delivered - expected),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(latencies[max(0, int(delivered * 0.99) - 1)] * 1000) if latencies
        else None,
        "max_ms": round(latencies[-1] * 1000) if latencies else None,
        "server_cpu_s": round(used["server"], 1),
        "us_per_msg": round(used["server"] / delivered * 1e6, 1) if delivered else None,
        "writer_cpu_s": round(writer_cpu, 1), "clients_cpu_s": round(used["clients"], 1),
    })
    print_row(row)
    return row


COLUMNS = [("path", 6), ("streams", 8), ("rate", 5), ("connected", 10), ("offered_per_s", 14),
           ("late_ticks", 11), ("delivered", 10), ("lost", 6), ("p50_ms", 8), ("p99_ms", 8),
           ("max_ms", 8), ("server_cpu_s", 13), ("us_per_msg", 11), ("writer_cpu_s", 13),
           ("clients_cpu_s", 14), ("rss_mb", 7)]


def print_row(row):
    print("".join(str(row.get(name) if row.get(name) is not None else "-").rjust(width)
                  for name, width in COLUMNS), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="task stream benchmark")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rates", default="20,4",
                        help="messages per stream per second, one pair of rows each: the "
                             "issue's 20, and a rate the writer can offer on a small machine")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--skip", default="", help="comma list of: task,flag")
    parser.add_argument("--database-url", default="", help="PostgreSQL (default: SQLite)")
    parser.add_argument("--redis-url", default="", help="Redis pub/sub between processes "
                                                        "(default: the table tailer)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rates = [float(r) for r in args.rates.split(",") if r]
    backends = {name: value for name, value in (("DATABASE_URL", args.database_url),
                                                 ("REDIS_URL", args.redis_url)) if value}
    mode = " + ".join(["PostgreSQL" if args.database_url else "SQLite",
                       "Redis" if args.redis_url else "table tailer"])
    print(f"Task streams: {args.streams} streams x {args.rates} messages/s x {args.seconds:g} s, "
          f"one server process, {mode}")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}\n")
    if args.database_url:
        reset_database(args.database_url)
    bench = Environment(backends)
    bench.env["STREAM_TOKEN_TTL_SECONDS"] = "7200"
    try:
        print("".join(name.rjust(width) for name, width in COLUMNS))
        if "task" not in skip:
            made = json.loads(producer(bench, "setup", args.streams).communicate()[0])
            paths = [path for path, _pk in made["streams"]]
            pks = ",".join(str(pk) for _path, pk in made["streams"])
        for rate in rates:
            if "task" not in skip:
                run_path("task", bench, args.streams, rate, args.seconds, paths, [],
                         '{"task":', ["tasks", pks, rate, args.seconds])
            if "flag" not in skip:
                run_path("flag", bench, args.streams, rate, args.seconds,
                         ["/api/sdk/stream"] * args.streams,
                         [f"Authorization: Bearer {bench.key}"], "event: put",
                         ["flags", rate, args.seconds])
    finally:
        shutil.rmtree(bench.var, ignore_errors=True)
    print("\noffered_per_s: deliveries a second the writer asked for (ticks x connected streams "
          "/ writing time); late_ticks: ticks the writer started late (it could not keep up).\n"
          "p50/p99/max: from the writer's send time (before its transaction) to the arrival at "
          "the client. us_per_msg: server CPU per delivered message.")
    return 0


def reset_database(url: str) -> None:
    """An empty PostgreSQL database for the run (the bench creates its tasks afresh)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
