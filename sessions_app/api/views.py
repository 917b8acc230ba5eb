"""The sessions API, for agent CLIs and services holding an organization API key
(``Authorization: Bearer ap_live_…``): live ingest, whole uploads, and reading sessions back.

Every refusal is JSON ``{"error", "detail", "fields"?}``. Nothing is stored from a request that
is refused.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tenancy.models import APIKey, APIKeyScope
from tenancy.rate_limits import rate_limit_hit
from tenancy.selectors import api_key_authenticate

from .. import selectors, services
from ..envelope import COMPLETED, InputError, parse_event
from ..serializers import conversation_detail, conversation_summary


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra):
        super().__init__(detail)
        self.response = JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def field_error(error: InputError) -> Refused:
    return Refused(400, "validation_error", str(error), fields={error.field: [error.message]})


def api_key_admit(request, scope: str) -> APIKey:
    """The request's organization key, if it has ``scope``; else Refused (401 / 403)."""
    authorization = request.headers.get("Authorization", "").strip()
    if not authorization:
        raise Refused(401, "not_authenticated",
                      "send an organization API key: Authorization: Bearer ap_live_…")
    parts = authorization.split()
    raw_key = parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else None
    api_key = api_key_authenticate(raw_key)
    if api_key is None:
        raise Refused(401, "invalid_api_key", "the API key is unknown, revoked or expired")
    if scope not in api_key.scopes:
        raise Refused(403, "insufficient_scope", f"this key does not have the {scope!r} scope",
                      scope=scope)
    return api_key


def read_json(request, limit: int):
    """The body as JSON, at most ``limit`` bytes (413 beyond)."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    too_large = Refused(413, "payload_too_large", f"the request body is larger than "
                        f"{limit:,} bytes", fields={"body": [f"at most {limit:,} bytes"]})
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "parse_error", f"body is not valid JSON: {exc}",
                      fields={"body": ["not valid JSON"]}) from None


def rate_limit(api_key: APIKey, scope: str, per_minute: int) -> None:
    retry_after = rate_limit_hit(scope, api_key.pk, per_minute)
    if retry_after is not None:
        refused = Refused(429, "rate_limited",
                          f"more than {per_minute} {scope} requests a minute with this key")
        refused.response["Retry-After"] = str(retry_after)
        raise refused


def answer(handler):
    """Turn a Refused into its JSON response."""
    def view(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except Refused as refused:
            return refused.response
        except InputError as error:
            return field_error(error).response
    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


@csrf_exempt
@require_POST
@answer
def ingest(request):
    """One live event from an agent CLI's bridge (scope ``ingest``)."""
    api_key = api_key_admit(request, APIKeyScope.INGEST)
    body = read_json(request, settings.INGEST_MAX_BYTES)
    if not isinstance(body, dict):
        raise Refused(400, "validation_error", "body: must be a JSON object",
                      fields={"body": ["must be a JSON object"]})
    event = parse_event(body)
    # The CLI never retries a 4xx: a conversation's end is never turned away for the rate.
    if event.type != COMPLETED:
        rate_limit(api_key, "ingest", settings.INGEST_RATE_LIMIT_PER_MINUTE)
    result = services.ingest_event(api_key=api_key, event=event)
    return JsonResponse(result.body, status=result.status)


@csrf_exempt
@require_POST
@answer
def upload(request):
    """A whole recorded session (scope ``upload``), stored in one transaction."""
    started = time.perf_counter()
    api_key = api_key_admit(request, APIKeyScope.UPLOAD)
    body = read_json(request, settings.UPLOAD_MAX_BYTES)
    rate_limit(api_key, "upload", settings.UPLOAD_RATE_LIMIT_PER_MINUTE)
    result = services.session_upload(api_key=api_key, upload=services.parse_upload(body))
    response = JsonResponse(result.body, status=result.status)
    response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


@require_GET
@answer
def session_list(request):
    """The key's organization's sessions, filtered, sorted and paged (scope ``read``)."""
    api_key = api_key_admit(request, APIKeyScope.READ)
    query = selectors.session_query(request.GET)
    page, total = selectors.conversation_list(api_key.organization_id, query)
    return JsonResponse({
        "results": [conversation_summary(c, participants=True) for c in page],
        "page": query.page, "limit": query.limit, "total": total,
        "pages": (total + query.limit - 1) // query.limit})


@require_GET
@answer
def session_detail(request, conversation_id):
    """One session with its participants and messages (scope ``read``)."""
    api_key = api_key_admit(request, APIKeyScope.READ)
    include, limit, cursor = selectors.message_options(request.GET)
    try:
        conversation = selectors.conversation_get(api_key.organization_id, conversation_id)
    except Http404:
        raise Refused(404, "not_found", f"no session {conversation_id} in this organization") \
            from None
    messages, next_cursor = (selectors.conversation_messages(conversation, limit=limit,
                                                             cursor=cursor)
                             if include else (None, None))
    return JsonResponse(conversation_detail(conversation, messages, next_cursor))
