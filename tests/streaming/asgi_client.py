"""Drive the project's ASGI application in-process: a stream is a task, its body is parsed into
SSE events as it arrives. No server, no socket: what the backbone does, exactly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Frame:
    event: str
    id: str | None
    data: str


def parse_frames(text: str) -> list[Frame]:
    frames = []
    for block in text.split("\n\n"):
        event, event_id, data = "message", None, []
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        for line in lines:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "id":
                event_id = value
            elif name == "data":
                data.append(value)
        frames.append(Frame(event, event_id, "\n".join(data)))
    return frames


class Stream:
    """One request to the ASGI app, held open until ``close()``."""

    def __init__(self, app, path: str, query: str = "", headers: dict | None = None,
                 slow: bool = False):
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.ended = asyncio.Event()
        self.started = asyncio.Event()
        self._changed = asyncio.Event()
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._flowing = asyncio.Event()  # a slow client does not take what is sent yet
        if not slow:
            self._flowing.set()
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "http_version": "1.1", "scheme": "http",
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
        self.task = asyncio.ensure_future(self._run(app, scope))

    async def _run(self, app, scope):
        try:
            await app(scope, self._inbox.get, self._send)
        finally:
            self.ended.set()
            self._changed.set()

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            self.started.set()
        else:
            await self._flowing.wait()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                self.ended.set()
        self._changed.set()

    def flow(self) -> None:
        """The slow client starts reading."""
        self._flowing.set()

    @property
    def frames(self) -> list[Frame]:
        return parse_frames(self.body.decode())

    def events(self, *types: str) -> list[Frame]:
        return [f for f in self.frames if not types or f.event in types]

    async def wait_for(self, predicate, timeout: float = 10.0):
        """Wait until ``predicate(self)`` holds; AssertionError with the body if it never does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out; status {self.status}, body:\n"
                                     f"{self.body.decode()[-2000:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self

    async def close(self) -> None:
        await self._inbox.put({"type": "http.disconnect"})
        try:
            await asyncio.wait_for(self.task, 5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.task.cancel()
