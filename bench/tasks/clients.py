"""The reading side of the task benchmark: SSE streams on plain non-blocking sockets (epoll),
recording when each event arrives, so that what is measured is the server.

Paths come one per line on stdin, then the controller's commands (one per line):
prints ``{"connected": n, "failed": f}`` when every stream has sent ``--ready``; then on ``go``
records the id (its number after the last ``:``) and arrival time of every event until
``stop``, and prints ``{"ids": [...], "arrivals": [...], "closed": c}``.
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

EVENT_ID = re.compile(rb"(?:^|\n)id: [^\n]*:(\d+)\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--ready", required=True)
    parser.add_argument("--budget", type=float, default=120)
    args = parser.parse_args()
    paths = [sys.stdin.readline().strip() for _ in range(args.count)]
    ready = args.ready.encode()
    headers = "".join(h + "\r\n" for h in args.header)
    selector = selectors.DefaultSelector()
    tails: dict[socket.socket, bytes] = {}
    opened = set()
    for path in paths:
        sock = socket.create_connection(("127.0.0.1", args.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     f"{headers}\r\n".encode())
        sock.setblocking(False)
        tails[sock] = b""
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.time() + args.budget
    failed = 0
    while len(opened) + failed < args.count and time.time() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            data = sock.recv(65536)
            if not data or data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 200"):
                selector.unregister(sock)
                sock.close()
                del tails[sock]
                failed += 1
                continue
            tail = tails[sock] + data
            if ready in tail:
                opened.add(sock)
                tail = tail[tail.rindex(b"\n\n") + 2:] if b"\n\n" in tail else b""
            tails[sock] = tail
    print(json.dumps({"connected": len(opened), "failed": args.count - len(opened)}),
          flush=True)

    ids: list[int] = []
    arrivals: list[float] = []
    closed = 0
    command = sys.stdin.readline().strip()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    if command == "go":
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    closed += 1
                    continue
                now = time.time()
                tail = tails[sock] + data
                end = tail.rfind(b"\n\n")
                if end < 0:
                    tails[sock] = tail
                    continue
                for match in EVENT_ID.finditer(tail, 0, end + 1):
                    ids.append(int(match.group(1)))
                    arrivals.append(now)
                tails[sock] = tail[end + 2:]
    print(json.dumps({"ids": ids, "arrivals": arrivals, "closed": closed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
