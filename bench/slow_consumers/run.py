"""Slow consumers (issue 14, faults): does a client that stops reading move the latency of the
clients reading beside it?

One server (embedded mode, production stream settings: a 256 KB buffer per client, cut off
after 30 s stuck), READERS company-stream clients reading, and updates published one at a time
at RATE a second, each padded to PAD bytes and stamped with its send time. In the same run:

* baseline — the readers alone, for SECONDS;
* stalled  — the same with STALLED more clients on the same stream that never read a byte
             (4 KB receive buffers), for SECONDS + 45: the kernel's socket buffers and the
             server's take some seconds to fill at 320 KB/s, then the clients are stuck for
             30 s and cut off, so both the stuck and the cut-off part are measured.

Per phase: deliveries, latency from publish to receipt (p50, p99, max), events missing, the
server's RSS at the start and its peak, and how many clients the server cut off.

Run: make bench-slow      (or .venv/bin/python bench/slow_consumers/run.py --stalled 50)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.live import LiveStack  # noqa: E402
from tests.sse_client import stalled_clients  # noqa: E402

OPS_TOKEN = "bench-slow-ops-token"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Reader(threading.Thread):
    """Reads the company stream; records, per update number, the seconds from publish to
    receipt."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.latency: dict[int, float] = {}
        self.opened = threading.Event()
        self.stop = threading.Event()

    def run(self):
        with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client, \
                connect_sse(client, "GET", self.url, headers=self.headers) as source:
            self.opened.set()
            for sse in source.iter_sse():
                if self.stop.is_set():
                    return
                if sse.event != "metric_updated":
                    continue
                now = time.time()
                data = json.loads(sse.data)
                self.latency[data["n"]] = now - data["t"]


def slow_closed(stack) -> int:
    text = httpx.get(f"{stack.base_url}/metrics",
                     headers={"Authorization": f"Bearer {OPS_TOKEN}"}).text
    line = 'flagstream_stream_slow_closed_total{kind="company"} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return int(float(found[0].split()[-1])) if found else 0


def phase(stack, server_pid: int, key: str, member: dict, args, first: int, seconds: float,
          stalled: int) -> dict:
    readers = [Reader(f"{stack.base_url}/stream/updates?companyId=acme", member)
               for _ in range(args.readers)]
    for reader in readers:
        reader.start()
    for reader in readers:
        assert reader.opened.wait(30), "a reader did not connect"
    sockets = stalled_clients(stack.base_url, "/stream/updates?companyId=acme",
                              member["Authorization"], stalled)
    closed_before = slow_closed(stack)
    rss_start = peak = rss_mb(server_pid)
    padding = "p" * args.pad
    count = int(seconds * args.rate)
    started = time.monotonic()
    with httpx.Client(base_url=stack.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as publisher:
        for i in range(count):
            n = first + i
            response = publisher.post("/stream/publish", json={
                "companyId": "acme", "type": "metric_updated",
                "data": {"n": n, "t": time.time(), "pad": padding}})
            assert response.status_code == 202, response.text
            if i % args.rate == 0:
                peak = max(peak, rss_mb(server_pid))
            delay = started + (i + 1) / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    deadline = time.monotonic() + 30
    wanted = set(range(first, first + count))
    while time.monotonic() < deadline and any(wanted - set(r.latency) for r in readers):
        time.sleep(0.2)
    peak = max(peak, rss_mb(server_pid))
    closed = slow_closed(stack) - closed_before
    for sock in sockets:
        sock.close()
    for reader in readers:
        reader.stop.set()
    latencies = sorted(value for reader in readers
                       for n, value in reader.latency.items() if n in wanted)
    missing = sum(len(wanted - set(reader.latency)) for reader in readers)
    return {"stalled": stalled, "seconds": round(time.monotonic() - started),
            "deliveries": len(latencies), "missing": missing,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "max": latencies[-1] * 1000, "rss_start": rss_start, "rss_peak": peak,
            "cut_off": closed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--stalled", type=int, default=50)
    parser.add_argument("--rate", type=int, default=20, help="updates a second")
    parser.add_argument("--pad", type=int, default=16000, help="bytes of padding per update")
    parser.add_argument("--seconds", type=float, default=20, help="baseline length")
    parser.add_argument("--slow-seconds", type=float, default=30,
                        help="STREAM_SLOW_CLIENT_SECONDS (the setting's default: 30)")
    args = parser.parse_args()
    print(f"slow consumers: {args.readers} readers, {args.stalled} stalled clients, "
          f"{args.rate} updates/s of {args.pad:,} B; SQLite (embedded); Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    env = {"STREAM_OPS_TOKEN": OPS_TOKEN, "API_RATE_LIMIT_PER_MINUTE": "0",
           "STREAM_SLOW_CLIENT_SECONDS": str(args.slow_seconds),
           "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="flagstream-slow-") as var, \
            LiveStack(Path(var), extra_env=env).running() as stack:
        server = next(p for p, log in stack.processes if log.name == "server.log")
        member = stack.bearer("admin", stack.credentials["password"])
        key = stack.manage("create_api_key", "acme", "--scope", "publish").strip() \
            .splitlines()[-1]
        stack.remember(key)
        rows = [("baseline", phase(stack, server.pid, key, member, args, 0, args.seconds, 0))]
        print("baseline done", flush=True)
        rows.append(("stalled", phase(stack, server.pid, key, member, args, 1_000_000,
                                      args.seconds + 45, args.stalled)))
    print()
    print("| phase | stalled clients | seconds | deliveries | missing | p50 ms | p99 ms | max ms "
          "| server RSS MB start | peak | cut off |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows:
        print(f"| {name} | {row['stalled']} | {row['seconds']} | {row['deliveries']:,} | "
              f"{row['missing']} | {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} | "
              f"{row['rss_start']:.0f} | {row['rss_peak']:.0f} | {row['cut_off']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
