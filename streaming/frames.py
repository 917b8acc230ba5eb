"""SSE frames, and the stored event they are made from.

Event ids are django-eventstream's (``<channel>:<id>``), so ``Last-Event-ID`` works the same on
streams this server holds and on streams Pushpin holds.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django_eventstream.utils import make_id, sse_encode_event

# What django-eventstream's own streams (and so Pushpin-held ones) start with.
STREAM_OPEN = b"event: stream-open\ndata:\n\n"

# One comment line and no blank line: a blank line would close an empty block, which some
# clients (httpx-sse) surface as an empty "message".
HEARTBEAT_FRAME = b":\n"
# The last bytes of a stream closed for idleness: EventSource reconnects with Last-Event-ID.
IDLE_FRAME = b": idle for STREAM_IDLE_TIMEOUT_SECONDS; reconnect with Last-Event-ID\n\n"


def sse_frame(event_type: str, data, event_id: str | None = None) -> bytes:
    """One SSE event; ``data`` is JSON-encoded unless it is text already."""
    if not isinstance(data, str):
        data = json.dumps(data, cls=DjangoJSONEncoder)
    return sse_encode_event(event_type, data, event_id=event_id).encode()


def revoked_frame(text: str) -> bytes:
    """The last frame of a stream whose credential was revoked (the library's error shape)."""
    return sse_frame("stream-error", {"condition": "unauthorized", "text": text}, "error")


def reset_frame(channel: str, current: int) -> bytes:
    """Sent when a client asks to resume from an event no longer stored: refetch, then follow."""
    return sse_frame("stream-reset", {"channels": [channel]}, make_id({channel: current}))


class StreamEvent:
    """One stored event of a channel; its SSE frame is encoded once and shared."""

    __slots__ = ("channel", "id", "type", "data", "_payload", "_frames")

    def __init__(self, channel: str, event_id: int, event_type: str, data: str):
        self.channel = channel
        self.id = event_id
        self.type = event_type
        self.data = data  # the JSON text as published
        self._payload = None
        self._frames: dict = {}

    @property
    def payload(self) -> dict:
        if self._payload is None:
            self._payload = json.loads(self.data)
        return self._payload

    @property
    def sse_id(self) -> str:
        return make_id({self.channel: self.id})

    def frame(self, render=None) -> bytes:
        """The SSE frame of this event, as ``render`` (or the default) shapes it; cached."""
        frame = self._frames.get(render)
        if frame is None:
            if render is None:
                frame = sse_encode_event(self.type, self.data, event_id=self.sse_id).encode()
            else:
                frame = render(self)
            self._frames[render] = frame
        return frame
