"""A fast lane in front of daphne's HTTP for the short POSTs that arrive by the thousand.

Agent CLIs post every message of a conversation as its own request, and SDKs their event
batches. Twisted's HTTP parsing and daphne's request object cost more of the event loop than
the ASGI application behind them (py-spy, docs/BENCHMARKS.md). A connection here starts in the
lane: while each request on it is a plain ``POST <path> HTTP/1.1`` to one of ``paths``, with a
``Content-Length`` and nothing the lane does not handle, the lane parses it, runs the same ASGI
application daphne would (every wrapper included: CORS, the credential guard, the endpoint)
and writes the answer. The first request that is anything else — another path or method, a
query string, a chunked or oversized body, ``Expect``, an upgrade, a header the lane does not
take as written — hands the connection, with everything it has buffered, to daphne's own
protocol for good, which answers it exactly as it always has (errors included).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from http import HTTPStatus

from daphne.http_protocol import HTTPFactory
from daphne.utils import parse_x_forwarded_for
from twisted.internet import protocol, reactor
from twisted.web.http_headers import Headers

from .backpressure import socket_write

logger = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # a head larger than this is daphne's to judge
MAX_BODY = 1024 * 1024 + 64 * 1024  # a larger body is daphne's (and its limits')
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name, as daphne checks it
REFUSED_IN_VALUES = frozenset(b"\x00\r\n")
NOT_OURS = frozenset((b"transfer-encoding", b"expect", b"upgrade", b"daphne-root-path"))


def reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


class Request:
    __slots__ = ("path", "headers", "length", "close", "raw")

    def __init__(self, path, headers, length, close, raw):
        self.path, self.headers, self.length, self.close, self.raw = \
            path, headers, length, close, raw


def parse_head(head: bytes, lines: dict[bytes, str]) -> Request | None:
    """The request whose head (without its final blank line) is ``head``, if the lane serves
    it as written; else None (daphne's)."""
    request_line, _, rest = head.partition(b"\r\n")
    path = lines.get(request_line)
    if path is None:
        return None
    headers, raw, length, close = [], [], None, False
    for line in rest.split(b"\r\n") if rest else ():
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            return None  # folded lines, spaces before the colon, bad names: daphne's 400
        value = value.strip(b" \t")
        if REFUSED_IN_VALUES.intersection(value):
            return None
        lower = name.lower()
        if lower in NOT_OURS:
            return None
        if lower == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif lower == b"connection":
            tokens = value.lower()
            if b"upgrade" in tokens:
                return None
            close = close or b"close" in tokens
        raw.append((name, value))
        if b"_" not in name:  # as daphne: such headers never reach the application
            headers.append((lower, value))
    if length is None:
        return None
    return Request(path, headers, length, close, raw)


class Lane(protocol.Protocol):
    """One client connection, in the lane until its first request that is not the lane's."""

    def __init__(self, factory: LaneFactory, addr):
        self.factory, self.addr = factory, addr
        self.buffer = bytearray()
        self.busy = False  # a request of this connection is with the application
        self.gone: asyncio.Future | None = None
        self.paused = False
        self.idle = None  # the one timer that closes a connection idle for factory.timeOut
        self.heard = 0.0  # when data last arrived (reactor.seconds())

    def connectionMade(self):
        self.gone = asyncio.get_event_loop().create_future()
        peer, host = self.transport.getPeer(), self.transport.getHost()
        self.client = [str(peer.host), peer.port] if hasattr(peer, "port") else None
        self.server_addr = [str(host.host), host.port] if hasattr(host, "port") else None
        self.heard = reactor.seconds()
        if self.factory.timeOut:
            self.idle = reactor.callLater(self.factory.timeOut, self._idle_check)

    def _idle_check(self):
        """Close the connection if nothing arrived for ``timeOut``; else look again when it
        would be (rescheduling on every read would cost a timer per request)."""
        quiet = reactor.seconds() - self.heard
        if quiet >= self.factory.timeOut:
            self.transport.loseConnection()
        else:
            self.idle = reactor.callLater(self.factory.timeOut - quiet, self._idle_check)

    def _stop_idle_check(self):
        if self.idle is not None and self.idle.active():
            self.idle.cancel()

    def dataReceived(self, data):
        self.buffer += data
        self.heard = reactor.seconds()
        if not self.busy:
            self._next()
        elif len(self.buffer) > MAX_BODY and not self.paused:
            self.paused = True  # a client sending ahead of its answers waits for them
            self.transport.pauseProducing()

    def connectionLost(self, reason=None):
        self._stop_idle_check()
        if not self.gone.done():
            self.gone.set_result(None)

    def _next(self):
        buffer = self.buffer
        if not buffer:
            return
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD or not any(
                    line.startswith(bytes(buffer[:len(line)])) for line in self.factory.lines):
                self._hand_over()
            return
        request = parse_head(bytes(buffer[:end]), self.factory.lines)
        if request is None or request.length > MAX_BODY:
            self._hand_over()
            return
        start = end + 4
        if len(buffer) < start + request.length:
            return  # the body is still arriving
        body = bytes(buffer[start:start + request.length])
        del buffer[:start + request.length]
        self.busy = True
        asyncio.ensure_future(self._serve(request, body))

    def _hand_over(self):
        """daphne's protocol takes the connection from here on, with what has arrived."""
        self._stop_idle_check()
        channel = self.factory.daphne_protocol(self.addr)
        self.transport.protocol = channel
        channel.makeConnection(self.transport)
        data, self.buffer = bytes(self.buffer), bytearray()
        if self.paused:
            self.transport.resumeProducing()
        if data:
            channel.dataReceived(data)

    def _scope(self, request: Request) -> dict:
        client, scheme = self.client, "http"
        server = self.factory.server
        if server.proxy_forwarded_address_header:
            headers = Headers()
            for name, value in request.raw:
                headers.addRawHeader(name, value)
            client, scheme = parse_x_forwarded_for(
                headers, server.proxy_forwarded_address_header,
                server.proxy_forwarded_port_header, server.proxy_forwarded_proto_header,
                client, scheme)
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "path": request.path, "raw_path": request.path.encode(),
                "root_path": server.root_path, "scheme": scheme, "query_string": b"",
                "headers": request.headers, "client": client, "server": self.server_addr}

    async def _serve(self, request: Request, body: bytes) -> None:
        started = time.monotonic()
        scope = self._scope(request)
        answer = {"status": None, "headers": (), "body": [], "done": False}
        delivered = False

        async def receive():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await self.gone
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                answer["status"], answer["headers"] = message["status"], \
                    message.get("headers", ())
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._answer(request, answer, started)

        try:
            await self.factory.server.application(scope=scope, receive=receive, send=send)
        except Exception:  # noqa: BLE001 - as daphne: logged, and the client gets a 500
            logger.exception("Exception inside application (%s)", request.path)
            if answer["status"] is None:
                answer.update(status=500, headers=[(b"content-type", b"text/plain")],
                              body=[b"Internal Server Error"])
                self._answer(request, answer, started)
        if not answer["done"]:  # the application ended without a whole answer
            self.transport.loseConnection()

    def _answer(self, request: Request, answer: dict, started: float) -> None:
        if answer["done"]:
            return
        answer["done"], self.busy = True, False
        body = b"".join(answer["body"])
        status = answer["status"] or 500
        head = [b"HTTP/1.1 %d %s" % (status, reason(status))]
        head += [name + b": " + value for name, value in answer["headers"]
                 if name.lower() not in (b"content-length", b"connection")]
        head.append(b"Content-Length: %d" % len(body))
        if request.close:
            head.append(b"Connection: close")
        if not self.gone.done():
            data = b"\r\n".join(head) + b"\r\n\r\n" + body
            # Straight to the socket when nothing waits before it: Twisted's write would cost
            # two epoll changes and a turn of the loop (streaming.backpressure).
            if not socket_write(self.transport, data):
                self.transport.write(data)
        self.factory.server.log_action("http", "complete", {
            "path": request.path, "status": status, "method": "POST",
            "client": "%s:%s" % tuple(self.client) if self.client else None,
            "time_taken": time.monotonic() - started, "size": len(body)})
        if request.close or self.gone.done():
            self.transport.loseConnection()
            return
        if self.paused:
            self.paused = False
            self.transport.resumeProducing()
        self._next()


class LaneFactory(HTTPFactory):
    """daphne's HTTP factory, whose connections start in the lane for ``paths``."""

    paths: tuple[str, ...] = ()

    def __init__(self, server):
        super().__init__(server)
        self.lines = {b"POST " + path.encode() + b" HTTP/1.1": path for path in self.paths}

    def buildProtocol(self, addr):
        if not self.lines:
            return self.daphne_protocol(addr)
        return Lane(self, addr)

    def daphne_protocol(self, addr):
        return super().buildProtocol(addr)
