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


class SlowClient(Exception):
    """The client read nothing for STREAM_SLOW_CLIENT_SECONDS while its buffer was full."""


class Transport:
    __slots__ = ("transport", "limit")

    def __init__(self, transport):
        self.transport = transport
        self.limit = settings.STREAM_CLIENT_BUFFER_BYTES

    @classmethod
    def of(cls, send) -> "Transport | None":
        args = getattr(send, "args", None)
        protocol = args[0] if args else None
        transport = getattr(protocol, "transport", None)
        if transport is None or not hasattr(transport, "_tempDataLen"):
            return None
        return cls(transport)

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
