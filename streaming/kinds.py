"""The registry of stream kinds: what every app declares about its streams.

The backbone knows no domain. An app describes each of its streams with a :class:`StreamKind`
(URL path, channel naming, how a request is authorized, what a new or reset stream is sent
first, whether replay sends only the newest event, whether Pushpin may hold it) and the
credentials those streams are opened with by a :class:`CredentialKind` (which of them were
revoked since, asked in batches). It registers both in its ``AppConfig.ready()``; the ASGI
router, the channel manager, replay, heartbeats, revocation and Pushpin's follow-ups all work
from here.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from functools import cached_property
from typing import Callable, Iterable, NamedTuple
from urllib.parse import parse_qsl, unquote

from .frames import STREAM_OPEN


class StreamDenied(Exception):
    """The stream cannot open: answered with ``status`` and a JSON body."""

    def __init__(self, status: int, code: str, detail: str, **extra):
        super().__init__(detail)
        self.status = status
        self.body = {"error": code, "detail": detail, **extra}


class NotCached(Exception):
    """The answer needs the database (raised when asked to answer from caches only)."""


class StreamRequest:
    """What a stream kind needs from an ASGI HTTP scope."""

    def __init__(self, scope, params: dict | None = None):
        self.path = scope["path"]
        self.params = params or {}  # the {name} parts of the kind's path
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                        for name, value in scope.get("headers", [])}
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        self.query_list = pairs
        self.query = {}
        for name, value in pairs:
            self.query.setdefault(name, value)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def last_event_id(self) -> str | None:
        value = self.header("last-event-id")
        if value:
            return value
        for name, value in reversed(self.query_list):  # the last non-empty one, as the library
            if name == "lastEventId" and value:
                return value
        return None


class Credential(NamedTuple):
    """What a stream was opened with, e.g. ``Credential("sdkkey", 12)``; re-checked while open.
    (A named tuple: one is made for every stream opened, and hashed at every re-check.)"""

    kind: str
    id: int

    @property
    def grip_channel(self) -> str:
        """The Pushpin channel on which this credential's held streams are closed."""
        return f"{self.kind}-{self.id}"

    def __str__(self) -> str:
        return self.grip_channel

    @classmethod
    def parse(cls, text: str) -> "Credential | None":
        kind, _, ident = (text or "").rpartition("-")
        return cls(kind, int(ident)) if kind and ident.isdigit() else None


class CredentialKind:
    """A kind of credential streams are opened with (an environment key, a stream token...)."""

    name: str = ""
    revoked_text: str = "the credential of this stream was revoked"

    def revoked(self, ids: Iterable[int]) -> set[int]:
        """Of ``ids``, those no longer valid (revoked, expired, deleted). Sync, batched."""
        raise NotImplementedError

    def credential(self, ident: int) -> Credential:
        return Credential(self.name, ident)


@dataclass
class StreamPlan:
    """What an authorized request streams: its channel, who opened it, and what it accepts."""

    channel: str
    credential: Credential | None = None
    accepts: Callable | None = None  # event -> bool; None accepts every event
    context: object = None  # whatever the kind needs when it opens the stream
    finished: bool = False  # the opening says it all: end the stream after it (and replay)
    resumed: str = ""  # how a Last-Event-ID was answered: "replay" or "reset" (the figures)


class StreamKind:
    """One kind of stream: subclass, fill in, and register in the app's ``ready()``."""

    name: str = ""
    # The URL path it is served on, e.g. "/api/sdk/stream"; "{name}" parts match one path
    # segment each, and the request has them in ``request.params``.
    path: str = ""
    channel_prefix: str = ""  # its channels are "<prefix><id>"
    stats_by_channel = False  # /stream/stats counts its streams per channel too
    latest_only: bool = False  # replay and catch-up send only the newest event
    # Seconds between heartbeat comments on this kind's streams (None: STREAM_HEARTBEAT_SECONDS).
    heartbeat_seconds: float | None = None
    pushpin: bool = False  # Pushpin may hold it (see grip_eligible)
    render: Callable | None = None  # event -> bytes; None sends the stored event as it is
    methods: tuple[str, ...] = ("GET", "HEAD")
    # The first bytes of every response; a client that reads every frame as its own format
    # (an A2A client) gets a comment instead.
    open_frame: bytes = STREAM_OPEN
    opening_on_resume: bool = False  # a resumed stream gets the opening too, then the replay

    def ends_after(self, event) -> bool:
        """Whether ``event`` is the last this stream sends (then the response ends)."""
        return False

    @cached_property
    def pattern(self) -> re.Pattern | None:
        """The path as a regular expression, for paths with ``{name}`` parts (else None)."""
        if "{" not in self.path:
            return None
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path.rstrip("/")))
        return re.compile(f"^{regex}/?$")

    def path_params(self, path: str) -> dict[str, str]:
        pattern = self.pattern
        match = pattern.match(path) if pattern else None
        return {name: unquote(value) for name, value in match.groupdict().items()} \
            if match else {}

    def channel(self, ident) -> str:
        return f"{self.channel_prefix}{ident}"

    def authorize(self, request: StreamRequest, *, cached_only: bool = False) -> StreamPlan:
        """The plan for ``request``, or StreamDenied. Sync (on the stream pool), or, with
        ``cached_only``, from in-process caches without any database work (else NotCached)."""
        raise NotImplementedError

    def opening(self, plan: StreamPlan) -> tuple[list[bytes], int] | None:
        """What a new or reset stream is sent first, and the event id it is current at; None
        for nothing (sync, on the stream pool)."""
        return None

    def opening_cached(self, plan: StreamPlan, current: int) -> tuple[list[bytes], int]:
        """The same from in-process caches only, the channel being at ``current``; NotCached
        when that cannot be done."""
        if type(self).opening is not StreamKind.opening:
            raise NotCached
        return [], current

    # How the stream is authenticated, for its OpenAPI description: security scheme names
    # (see streaming.openapi), and query parameters it reads besides lastEventId.
    openapi_security: tuple[str, ...] = ()
    openapi_query: dict[str, str] = {}

    def openapi(self) -> dict:
        """This stream's OpenAPI path item: a GET answered with ``text/event-stream``."""
        doc = (type(self).__doc__ or self.name).strip()
        summary, _, description = doc.partition("\n")
        params = [{"name": "Last-Event-ID", "in": "header", "required": False,
                   "schema": {"type": "string"},
                   "description": "Resume after this event id (``<channel>:<n>``)."},
                  {"name": "lastEventId", "in": "query", "required": False,
                   "schema": {"type": "string"}, "description": "The same, for EventSource."}]
        params += [{"name": name, "in": "query", "required": False,
                    "schema": {"type": "string"}, "description": text}
                   for name, text in self.openapi_query.items()]
        params += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                   for name in re.findall(r"\{(\w+)\}", self.path)]
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        operation = {
            "operationId": f"stream_{self.name}", "tags": ["streams"],
            "summary": summary.strip(), "description": " ".join(description.split()),
            "parameters": params,
            "responses": {
                "200": {"description": "Server-Sent Events: ``stream-open``, the opening, then "
                                       "one event per change; a ``:`` comment as heartbeat.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "400": {"description": "Last-Event-ID is not an id of this stream",
                        "content": error},
                "401": {"description": "No, a wrong or a revoked credential", "content": error},
            },
        }
        if self.openapi_security:
            operation["security"] = [{name: []} for name in self.openapi_security]
        methods = [m.lower() for m in self.methods if m != "HEAD"]
        return {method: {**operation, "operationId": f"stream_{self.name}"
                         + ("" if method == "get" else f"_{method}")} for method in methods}

    def grip_eligible(self, request: StreamRequest) -> bool:
        """Whether Pushpin can hold this request's stream: it fans a channel out unchanged,
        so a stream that filters or re-renders events stays with the origin."""
        return self.pushpin and self.render is None


class Registry:
    def __init__(self):
        self.kinds: dict[str, StreamKind] = {}
        self.paths: dict[str, StreamKind] = {}
        self.patterned: list[StreamKind] = []  # kinds whose paths have {name} parts
        self.credentials: dict[str, CredentialKind] = {}
        self.websockets: list[tuple[str, object]] = []

    def register(self, kind: StreamKind) -> StreamKind:
        """Add a stream kind; its credential kind is registered with register_credential."""
        if not kind.name or not kind.path.startswith("/") or not kind.channel_prefix:
            raise ValueError("a stream kind needs a name, a path and a channel prefix")
        taken = self.kinds.get(kind.name) or self.paths.get(kind.path.rstrip("/"))
        if taken is not None and taken is not kind:
            raise ValueError(f"stream kind {kind.name!r} ({kind.path}) is already registered")
        self.kinds[kind.name] = kind
        self.paths[kind.path.rstrip("/")] = kind
        if kind.pattern is not None and kind not in self.patterned:
            self.patterned.append(kind)
        return kind

    def register_credential(self, credential_kind: CredentialKind) -> CredentialKind:
        self.credentials[credential_kind.name] = credential_kind
        return credential_kind

    def register_websocket(self, path: str, asgi_app) -> None:
        """A WebSocket endpoint (``path`` without a leading slash) served next to the streams."""
        self.websockets.append((path, asgi_app))

    def revoked_text(self, credential: Credential | None) -> str:
        """What a stream closed for ``credential``'s revocation says."""
        kind = self.credentials.get(credential.kind) if credential is not None else None
        return (kind or CredentialKind).revoked_text

    def for_path(self, path: str) -> StreamKind | None:
        kind = self.paths.get(path.rstrip("/"))
        if kind is not None:
            return kind
        return next((kind for kind in self.patterned if kind.pattern.match(path)), None)

    def owns_channel(self, channel: str) -> bool:
        return any(channel.startswith(kind.channel_prefix) for kind in self.kinds.values())


registry = Registry()
register = registry.register
register_credential = registry.register_credential
register_websocket = registry.register_websocket
