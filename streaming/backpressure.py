"""How much a stream's client has not read yet, where the server lets us see it.

daphne writes a response through Twisted, which buffers whatever the socket does not take at
once, without limit and without telling the application. ASGI gives the application no way to
ask, so this looks at the Twisted transport behind daphne's ``send`` (``functools.partial(
server.handle_reply, protocol)``). Under a server where that is not there, :meth:`Transport.of`
gives None and streams rely on the server's own flow control (an ASGI ``send`` that waits).
"""

from __future__ import annotations

import asyncio

from django.conf import settings


def socket_write(transport, data: bytes) -> bool:
    """Write ``data`` straight to a Twisted TCP transport's socket when nothing of an earlier
    write is still buffered for it; what the socket does not take is left to Twisted, in
    order. False (nothing written) if the socket is busy, closing, gone or not plain TCP: the
    caller writes through Twisted."""
    if not transport.connected or transport.disconnecting or transport._writeDisconnected \
            or transport.dataBuffer or transport._tempDataLen \
            or not hasattr(transport, "socket") or getattr(transport, "TLS", False):
        return False
    try:
        sent = transport.socket.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        return False  # let Twisted find out about the connection
    if sent < len(data):
        transport.write(data[sent:])
    return True


class SlowClient(Exception):
    """The client read nothing for STREAM_SLOW_CLIENT_SECONDS while its buffer was full."""


class Transport:
    __slots__ = ("request", "transport", "limit", "direct")

    def __init__(self, request, transport):
        self.request = request  # daphne's WebRequest (a twisted.web Request)
        self.transport = transport
        self.limit = settings.STREAM_CLIENT_BUFFER_BYTES
        # Plain TCP only (with TLS the socket is not where the bytes go).
        self.direct = settings.STREAM_DIRECT_WRITES and not getattr(transport, "TLS", False) \
            and hasattr(transport, "socket")

    @classmethod
    def of(cls, send) -> "Transport | None":
        """The socket behind daphne's ``send`` (a partial whose ``args`` carry its request),
        or None. An ASGI wrapper that replaces ``send`` must copy ``args`` onto its own (as
        config.cors and tenancy.credential_guard do): else its streams lose their direct
        writes and are never cut off when the client stops reading."""
        args = getattr(send, "args", None)
        request = args[0] if args else None
        transport = getattr(request, "transport", None)
        if transport is None or not hasattr(transport, "_tempDataLen"):
            return None
        return cls(request, transport)

    def write_now(self, body: bytes) -> bool:
        """Write a response body chunk straight to the socket when nothing is buffered for
        it, as Twisted would on its next turn — without its two epoll changes and the turn in
        between, most of a delivery's cost. False (nothing written) when that is not the
        case; the caller then sends it through the server as usual. What the socket does
        not take is left to Twisted, in order."""
        request, transport = self.request, self.transport
        if not self.direct or not request.startedWriting or request.finished:
            return False
        data = b"%x\r\n%s\r\n" % (len(body), body) if request.chunked else body
        if not socket_write(transport, data):
            return False
        request.sentLength += len(body)
        return True

    def buffered(self) -> int:
        """Bytes written for the client and not yet taken by its socket."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def backed_up(self) -> bool:
        return self.limit > 0 and self.buffered() > self.limit

    async def drained(self) -> None:
        """Wait until half the limit is left, or raise SlowClient after
        STREAM_SLOW_CLIENT_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.STREAM_SLOW_CLIENT_SECONDS
        while self.buffered() > self.limit // 2:
            if self.transport.disconnected or loop.time() >= deadline:
                raise SlowClient
            await asyncio.sleep(0.05)

    def abort(self) -> None:
        """Drop the connection and what is buffered for it (a graceful close would wait to
        send the buffer first)."""
        self.transport.abortConnection()
