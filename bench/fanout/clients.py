"""A shard of SSE clients for the fan-out benchmark: plain non-blocking sockets on epoll.

It is deliberately small and fast (no asyncio, no HTTP library) so that what the benchmark
measures is the server. Protocol with the controller (one JSON object per line):
stdout ``{"connected": n, "failed": f, "reasons": {...}, "seconds": s}`` when every stream has
sent ``--ready`` (or the budget ran out). Then, for each ``arm`` line on stdin: ``{"armed":
true}`` once it is reading every stream (the change is made only then, so that no arrival is
stamped late), then ``{"arrivals": [unix times], "missing": m}`` when every stream has seen
``--marker`` (or the budget ran out). Any other line closes the streams and ends the shard.
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--source", default="",
                        help="local address to connect from (each 127.0.0.x has its own ~28,000 "
                             "ephemeral ports: more streams than that to one port need several)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=200, help="connects in flight")
    parser.add_argument("--ready", required=True, help="bytes that mean the stream is open")
    parser.add_argument("--marker", required=True, help="bytes that mean the change arrived")
    parser.add_argument("--connect-budget", type=float, default=120)
    parser.add_argument("--retries", type=int, default=3,
                        help="times a stream answered 5xx is reopened after a short pause, as an "
                             "SDK would (Pushpin answers 500/502 when its fixed internal queues "
                             "are full)")
    parser.add_argument("--deliver-budget", type=float, default=30)
    args = parser.parse_args()

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "Accept: text/event-stream\r\n" + "".join(h + "\r\n" for h in args.header) +
               "\r\n").encode()
    ready, marker = args.ready.encode(), args.marker.encode()
    selector = selectors.DefaultSelector()
    state: dict[socket.socket, list] = {}  # sock -> [phase, tail bytes]; phases: 0 connecting, 1 waiting ready, 2 open, 3 done
    started = time.time()
    opened = 0
    last_open = started
    pending_connects = 0
    to_start = args.count
    failed = 0
    reasons: dict[str, int] = {}  # why streams failed, for the report
    retried = 0
    retry_queue: list[tuple[float, int]] = []  # (when, attempt) of streams answered 5xx
    attempts: dict[socket.socket, int] = {}

    def fail(why):
        nonlocal failed
        failed += 1
        reasons[why] = reasons.get(why, 0) + 1

    def start_one(attempt=0):
        nonlocal pending_connects
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if args.source:
            # The port is chosen at connect (IP_BIND_ADDRESS_NO_PORT), for this destination:
            # a bind alone would need a port free of every earlier run's TIME_WAIT sockets.
            sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
            sock.bind((args.source, 0))
        try:
            sock.connect((args.host, args.port))
        except BlockingIOError:
            pass
        state[sock] = [0, b""]
        attempts[sock] = attempt
        selector.register(sock, selectors.EVENT_WRITE)
        pending_connects += 1

    def close(sock):
        selector.unregister(sock)
        sock.close()
        state.pop(sock, None)
        attempts.pop(sock, None)

    # --- connect phase: every stream opened and said `ready` --------------------------------
    while (opened + failed) < args.count and time.time() - started < args.connect_budget:
        now = time.time()
        while retry_queue and retry_queue[0][0] <= now and pending_connects < args.concurrency:
            start_one(retry_queue.pop(0)[1])
        while to_start and pending_connects < args.concurrency:
            start_one()
            to_start -= 1
        for key, mask in selector.select(timeout=0.5):
            sock = key.fileobj
            phase = state[sock][0]
            if phase == 0:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    close(sock)
                    pending_connects -= 1
                    fail(f"connect: {errno.errorcode.get(err, err)}")
                    continue
                sock.send(request)
                state[sock][0] = 1
                selector.modify(sock, selectors.EVENT_READ)
            elif phase == 1:
                try:
                    data = sock.recv(65536)
                except OSError as exc:
                    data, why = b"", f"read: {errno.errorcode.get(exc.errno, exc.errno)}"
                else:
                    why = "closed before ready" + (" (" + state[sock][1][:12].decode(
                        "latin-1") + ")" if state[sock][1] else "")
                if not data:
                    close(sock)
                    pending_connects -= 1
                    fail(why)
                    continue
                tail = state[sock][1] + data
                if tail.startswith(b"HTTP/1.1 5") and attempts[sock] < args.retries:
                    retry_queue.append((time.time() + 0.5, attempts[sock] + 1))
                    close(sock)
                    pending_connects -= 1
                    retried += 1
                    continue
                if tail.startswith(b"HTTP/1.1 ") and not tail.startswith(b"HTTP/1.1 200"):
                    close(sock)
                    pending_connects -= 1
                    fail(f"answered {tail[9:12].decode('latin-1')}")
                    continue
                if ready in tail:
                    state[sock] = [2, tail[tail.index(ready):][-4096:]]
                    opened += 1
                    pending_connects -= 1
                    last_open = time.time()
                else:
                    state[sock][1] = tail[-65536:]
            else:  # open: drain heartbeats, remember the tail in case the change is split
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    close(sock)
                    opened -= 1
                    fail("closed after ready")
                    continue
                state[sock][1] = (state[sock][1] + data)[-4096:]
    print(json.dumps({"connected": opened, "failed": failed, "reasons": reasons,
                      "retried": retried,
                      "last_open_s": round(last_open - started, 3),
                      "seconds": round(time.time() - started, 3)}), flush=True)

    # --- delivery phase: one round per "arm" line, until any other line -------------------
    for sock, (phase, _) in list(state.items()):
        if phase != 2:
            close(sock)
    while sys.stdin.readline().strip() == "arm":
        for entry in state.values():
            entry[0], entry[1] = 2, b""  # the change must arrive after the go
        arrivals = []
        waiting = len(state)
        print(json.dumps({"armed": True}), flush=True)
        deadline = time.time() + args.deliver_budget
        while waiting and time.time() < deadline:
            for key, mask in selector.select(timeout=0.2):
                sock = key.fileobj
                entry = state.get(sock)
                if entry is None:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                now = time.time()
                if not data:
                    if entry[0] == 2:
                        waiting -= 1
                    close(sock)
                    continue
                if entry[0] != 2:
                    continue  # already has this round's change: drain heartbeats
                tail = entry[1] + data
                if marker in tail:
                    arrivals.append(now)
                    entry[0] = 3
                    entry[1] = b""
                    waiting -= 1
                else:
                    entry[1] = tail[-4096:]
        print(json.dumps({"arrivals": arrivals, "missing": waiting}), flush=True)
    for sock in list(state):
        sock.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as exc:
        if exc.errno == errno.EMFILE:
            print(json.dumps({"error": "too many open files"}), flush=True)
        raise
