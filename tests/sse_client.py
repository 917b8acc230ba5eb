"""A background SSE reader for tests: connects with httpx and collects events in a queue."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from dataclasses import dataclass

import httpx
from httpx_sse import connect_sse


@dataclass
class Received:
    event: str
    id: str
    data: str

    @property
    def json(self):
        return json.loads(self.data)


class SSEReader:
    def __init__(self, url: str, headers: dict | None = None, timeout: float = 30):
        self.url = url
        self.headers = headers or {}
        self.events: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.body: bytes | None = None
        self.closed = threading.Event()
        self.opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, read=timeout))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            with connect_sse(self._client, "GET", self.url, headers=self.headers) as source:
                self.status = source.response.status_code
                self._response = source.response
                if self.status != 200:
                    self.body = source.response.read()
                    return
                self.opened.set()
                for sse in source.iter_sse():
                    self.events.put(Received(sse.event, sse.id, sse.data))
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self.opened.set()
            self.closed.set()

    def wait_open(self, timeout: float = 10) -> int:
        assert self.opened.wait(timeout), "stream did not open"
        return self.status

    def next(self, timeout: float = 10, skip=("keep-alive", "stream-open")) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no event within {timeout} s from {self.url}")
            try:
                received = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if received.event not in skip:
                return received

    def next_of(self, event_type: str, timeout: float = 10) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            received = self.next(max(0.01, deadline - time.monotonic()))
            if received.event == event_type:
                return received

    def nothing_for(self, seconds: float, skip=("keep-alive", "stream-open")) -> bool:
        """True when no event (other than ``skip``) arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if self.events.get(timeout=remaining).event not in skip:
                    return False
            except queue.Empty:
                return True
        return True

    def close(self):
        """Hang up: the server sees the connection end at once (closing the client alone
        would leave the socket open while the reading thread waits on it)."""
        response = getattr(self, "_response", None)
        if response is not None:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._client.close()


def stalled_clients(base_url: str, path: str, authorization: str, count: int) -> list:
    """``count`` clients that open the stream at ``path`` and never read a byte (4 KB receive
    buffers): the server's buffers for them fill. Close the sockets to end them."""
    port = int(base_url.rsplit(":", 1)[1])
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: stalled\r\n"
                     f"Authorization: {authorization}\r\n\r\n".encode())
        sockets.append(sock)
    return sockets
