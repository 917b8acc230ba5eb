"""What an endpoint checks before it does anything, for Django views and raw ASGI paths
alike: the key and its scope, the body's size and JSON, the rate. A check that fails raises
:class:`Refused`, which each front end turns into the same JSON answer (``answer`` for views)."""

from __future__ import annotations

import json
import logging

from django.db import DataError, InterfaceError, OperationalError
from django.http import JsonResponse

from tenancy.models import APIKey
from tenancy.rate_limits import rate_limit_hit
from tenancy.tokens import ACCESS, TokenError, token_user

logger = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None,
                 **extra):
        super().__init__(detail)
        self.status = status
        self.body = {"error": code, "detail": detail, **extra}
        self.headers = headers or {}


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None for anything else."""
    parts = (authorization or "").split()
    return parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else None


def bearer_key(authorization: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``; Refused (401) when the header is missing."""
    if not (authorization or "").strip():
        raise Refused(401, "not_authenticated",
                      "send an organization API key: Authorization: Bearer ap_live_…")
    return bearer_token(authorization)


def request_user(request, token: str | None, *, missing: str):
    """The user a request speaks for: ``token`` (a login JWT, from ``Authorization: Bearer``)
    or else the session; Refused (401) for a bad token, or with ``missing`` for none."""
    if token:
        try:
            return token_user(token, ACCESS)
        except TokenError as exc:
            raise Refused(401, "invalid_token", str(exc)) from None
    if request.user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            csrf_check(request)
        return request.user
    raise Refused(401, "not_authenticated", missing)


def csrf_check(request) -> None:
    """Refused (403) unless an unsafe request made with the session cookie carries the CSRF
    token (``X-CSRFToken``), as Django's forms and DRF's session authentication require: the
    views that take a session or a key are exempt from the middleware, so it is checked
    here, once the session is what speaks."""
    from django.middleware.csrf import CsrfViewMiddleware

    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    if check.process_view(request, None, (), {}) is not None:
        raise Refused(403, "csrf_failed", "a request made with the session cookie needs its "
                                          "CSRF token (X-CSRFToken header)")


def validation_refused(error) -> Refused:
    """A model ValidationError (``{field: [messages]}``) as a 400 naming its fields."""
    fields = {name: [m for e in errors for m in e.messages]
              for name, errors in error.error_dict.items()}
    first, messages = next(iter(fields.items()))
    return Refused(400, "validation_error", f"{first}: {messages[0]}", fields=fields)


def require_scope(api_key: APIKey | None, scope: str) -> APIKey:
    if api_key is None:
        raise Refused(401, "invalid_api_key", "the API key is unknown, revoked or expired")
    if scope not in api_key.scopes:
        raise Refused(403, "insufficient_scope", f"this key does not have the {scope!r} scope",
                      scope=scope)
    return api_key


def too_large(limit: int) -> Refused:
    return Refused(413, "payload_too_large", f"the request body is larger than {limit:,} bytes",
                   fields={"body": [f"at most {limit:,} bytes"]})


def parse_json(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "parse_error", f"body is not valid JSON: {exc}",
                      fields={"body": ["not valid JSON"]}) from None


def rate_limit(credential, scope: str, per_minute: int) -> None:
    """Count a request of ``credential`` (an organization API key or a user) against its
    ``per_minute`` budget for ``scope``; Refused (429, ``Retry-After``) past it."""
    owner = "user" if getattr(credential, "is_authenticated", False) else "key"
    retry_after = rate_limit_hit(f"{scope}-{owner}", credential.pk, per_minute)
    if retry_after is not None:
        raise Refused(429, "rate_limited",
                      f"more than {per_minute} {scope} requests a minute with this {owner}: "
                      f"try again in {retry_after} s",
                      headers={"Retry-After": str(retry_after)})


def json_object(body) -> dict:
    """``body`` if it is a JSON object; Refused (400) otherwise."""
    if not isinstance(body, dict):
        raise Refused(400, "validation_error", "body: must be a JSON object",
                      fields={"body": ["must be a JSON object"]})
    return body


def read_json(request, limit: int):
    """The body as JSON, at most ``limit`` bytes (413 beyond)."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    return parse_json(raw)


def answer(handler, convert: dict | None = None):
    """Turn a Refused (or an exception ``convert`` maps to one) into its JSON response."""
    converters = tuple((convert or {}).items())

    def view(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except Refused as exc:
            refused = exc
        except Exception as exc:
            for exception_type, to_refused in converters:
                if isinstance(exc, exception_type):
                    refused = to_refused(exc)
                    break
            else:
                raise
        response = JsonResponse(refused.body, status=refused.status)
        for name, value in refused.headers.items():
            response[name] = value
        return response
    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


# Raw ASGI paths (sessions_app.asgi, analytics.asgi): the body and the JSON answer.

async def asgi_body(receive, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (Refused 413 beyond); ConnectionError if
    the client leaves first."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client left")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def asgi_headers(scope) -> dict:
    return {name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])}


async def asgi_json(send, status: int, body: dict, headers: dict | None = None) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode())]
    head += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


async def asgi_answer(send, work, what: str) -> None:
    """Answer a raw ASGI request with what ``await work()`` returns, ``(status, body)``, as
    JSON; a Refused with its answer; nothing if the client left; anything else with a 500
    (logged), as a Django view would be answered."""
    try:
        status, body = await work()
    except Refused as refused:
        await asgi_json(send, refused.status, refused.body, refused.headers)
        return
    except ConnectionError:
        return
    except Exception as exc:  # noqa: BLE001 - answered as the Django view would
        refused = database_refusal(exc)
        if refused is None:
            logger.exception("%s failed", what)
            refused = Refused(500, "server_error", "request failed")
        await asgi_json(send, refused.status, refused.body, refused.headers)
        return
    await asgi_json(send, status, body)


def database_refusal(exc: Exception) -> Refused | None:
    """How a database error is answered when it is the client's to act on, for Django views
    (config.api_errors) and raw ASGI paths alike: a database that cannot be reached
    (restarting, failing over) is 503 with Retry-After — come back, do not give up; a NUL
    character in text, which PostgreSQL refuses and SQLite takes, is bad input (400).
    None for anything else (a 500)."""
    from django.conf import settings

    if isinstance(exc, (OperationalError, InterfaceError)):
        return Refused(503, "unavailable", "the database is unavailable: try again shortly",
                       {"Retry-After": str(settings.DATABASE_RETRY_AFTER_SECONDS)})
    if isinstance(exc, DataError) and "NUL (0x00)" in str(exc):
        return Refused(400, "validation_error",
                       "text may not contain the NUL character (\\u0000)")
    return None


async def asgi_method_refused(scope, send, allowed: str = "POST") -> bool:
    """Answer 405 unless the request's method is ``allowed``; whether it was answered."""
    if scope["method"] == allowed:
        return False
    await asgi_json(send, 405, {"error": "method_not_allowed",
                                "detail": f"{scope['method']} is not allowed here"},
                    {"Allow": allowed})
    return True
