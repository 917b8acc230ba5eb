"""Cross-origin access for what browsers call directly: the SDK API and OFREP, which a web
application on another origin reads with a client key (``cli-…``, public by design) — fetch,
EventSource, an OFREP web provider. Everything else (the management API, staff pages, the
ingest and session APIs, company and task streams) answers other origins nothing, so a
browser there cannot read it.

An ASGI wrapper around the whole application, so that the paths Django serves, the raw ASGI
paths and the streams (held here or by Pushpin, which passes these headers on) answer alike.
Cookies never cross: no ``Access-Control-Allow-Credentials``.
"""

from __future__ import annotations

from django.conf import settings

ALLOW_HEADERS = b"Authorization, Content-Type, X-API-Key, If-None-Match, Last-Event-ID"
EXPOSE_HEADERS = b"ETag, Retry-After"


def _origin(scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value
    return None


def allowed_origin(origin: bytes) -> bytes | None:
    """What ``Access-Control-Allow-Origin`` says to ``origin``: ``*`` when every origin may
    (the default), the origin itself when it is one of CORS_ALLOWED_ORIGINS, else None."""
    allowed = settings.CORS_ALLOWED_ORIGINS
    if "*" in allowed:
        return b"*"
    return origin if origin.decode("latin-1") in allowed else None


def cors_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    allow = allowed_origin(origin)
    if allow is None:
        return []
    headers = [(b"access-control-allow-origin", allow),
               (b"access-control-expose-headers", EXPOSE_HEADERS)]
    if allow != b"*":
        headers.append((b"vary", b"Origin"))
    return headers


def with_cors(inner):
    prefixes = tuple(settings.CORS_PATH_PREFIXES)  # read once: every request passes here

    async def application(scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(prefixes):
            await inner(scope, receive, send)
            return
        origin = _origin(scope)
        if origin is None:
            await inner(scope, receive, send)
            return
        headers = cors_headers(origin)
        if scope["method"] == "OPTIONS":  # the preflight: answered here, whatever the path
            if headers:
                headers += [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                            (b"access-control-allow-headers", ALLOW_HEADERS),
                            (b"access-control-max-age", b"86400")]
            await send({"type": "http.response.start", "status": 204,
                        "headers": headers + [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if not headers:
            await inner(scope, receive, send)
            return

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        # daphne's send carries its request in ``args``; streams find their socket through it
        # (streaming.backpressure: direct writes, and cutting off clients that stop reading).
        send_with_cors.args = getattr(send, "args", None)
        await inner(scope, receive, send_with_cors)
    return application
