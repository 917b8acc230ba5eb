"""The reading side of the company benchmark: SSE streams on plain non-blocking sockets (epoll),
so that what is measured is the server.

Arguments name the port, the companies and how many streams each gets; every ``--sample``-th
stream of a company also parses its events' ``sentAt`` for latency (the rest only count, which
keeps this process's CPU small). Controller commands, one per line on stdin:

* (start) prints ``{"connected": n, "failed": f}`` once every stream sent ``stream-open``;
* ``read`` prints the figures of the phase so far: deliveries, deliveries of another
  company's event (must be 0), latency percentiles of the sampled streams, streams closed,
  first and last arrival; ``phase`` prints them too and starts the next phase from zero;
* ``thin N`` keeps N streams per company and closes the rest; ``stop`` ends.
"""

from __future__ import annotations

import argparse
import json
import re
import selectors
import socket
import sys
import threading
import time

SENT_AT = re.compile(rb'"sentAt": ([0-9.e+]+)')
COMPANY = b'"companyId": "'


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Stream:
    __slots__ = ("sock", "company", "own", "sampled", "tail", "events", "cross")

    def __init__(self, sock, company: str, sampled: bool):
        self.sock, self.company, self.sampled = sock, company, sampled
        self.own = COMPANY + company.encode() + b'"'
        self.tail, self.events, self.cross = b"", 0, 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--companies", required=True, help="comma-separated slugs")
    parser.add_argument("--per-company", type=int, required=True)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--budget", type=float, default=120)
    args = parser.parse_args()
    headers = "".join(h + "\r\n" for h in args.header)
    selector = selectors.DefaultSelector()
    streams: list[Stream] = []
    for n in range(args.per_company):
        for company in args.companies.split(","):
            sock = socket.create_connection(("127.0.0.1", args.port))
            sock.sendall(f"GET /stream/updates?companyId={company} HTTP/1.1\r\n"
                         f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n{headers}\r\n"
                         .encode())
            sock.setblocking(False)
            stream = Stream(sock, company, n % args.sample == 0)
            streams.append(stream)
            selector.register(sock, selectors.EVENT_READ, stream)
    deadline = time.time() + args.budget
    opened, failed = set(), 0
    while len(opened) + failed < len(streams) and time.time() < deadline:
        for key, _ in selector.select(timeout=0.5):
            stream = key.data
            data = stream.sock.recv(65536)
            if not data or data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 200"):
                selector.unregister(stream.sock)
                stream.sock.close()
                failed += 1
                continue
            stream.tail += data
            if b"stream-open" in stream.tail:
                opened.add(stream)
                stream.tail = stream.tail[stream.tail.rindex(b"\n\n") + 2:]
    print(json.dumps({"connected": len(opened), "failed": len(streams) - len(opened)}),
          flush=True)
    live = [s for s in streams if s in opened]

    commands: list[str] = []
    lock = threading.Lock()

    def read_commands():
        for line in sys.stdin:
            with lock:
                commands.append(line.strip())

    threading.Thread(target=read_commands, daemon=True).start()
    latencies: list[float] = []
    closed, first, last = 0, None, None
    while True:
        with lock:
            pending, commands[:] = list(commands), []
        for command in pending:
            if command in ("read", "phase"):
                print(json.dumps({
                    "deliveries": sum(s.events for s in live), "cross": sum(s.cross for s in live),
                    "samples": len(latencies),
                    "p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
                    "p99": percentile(latencies, 0.99),
                    "max": max(latencies) if latencies else None, "closed": closed,
                    "first": first, "last": last}), flush=True)
                if command == "phase":  # and start the next from zero
                    latencies, first, last = [], None, None
                    for stream in live:
                        stream.events = stream.cross = 0
            elif command.startswith("thin "):
                keep = int(command.split()[1])
                kept, counts = [], {}
                for stream in live:
                    counts[stream.company] = counts.get(stream.company, 0) + 1
                    if counts[stream.company] <= keep:
                        stream.sampled = True
                        kept.append(stream)
                    else:
                        selector.unregister(stream.sock)
                        stream.sock.close()
                live = kept
                print(json.dumps({"kept": len(live)}), flush=True)
            elif command == "stop":
                return 0
        for key, _ in selector.select(timeout=0.05):
            stream = key.data
            try:
                data = stream.sock.recv(262144)
            except OSError:
                data = b""
            if not data:
                selector.unregister(stream.sock)
                closed += 1
                continue
            now = time.time()
            tail = stream.tail + data
            end = tail.rfind(b"\n\n")
            if end < 0:
                stream.tail = tail
                continue
            whole, stream.tail = tail[:end + 2], tail[end + 2:]
            events = whole.count(b"\nid: ") + whole.startswith(b"id: ")
            own = whole.count(stream.own)
            stream.events += events
            if events:
                first, last = first or now, now
            stream.cross += whole.count(COMPANY) - own
            if stream.sampled:
                latencies.extend(now - float(m.group(1)) for m in SENT_AT.finditer(whole))


if __name__ == "__main__":
    sys.exit(main())
