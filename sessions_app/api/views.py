"""The sessions API, for agent CLIs and services holding an organization API key
(``Authorization: Bearer ap_live_…``): live ingest, whole uploads, and reading sessions back.

Every refusal is JSON ``{"error", "detail", "fields"?}``. Nothing is stored from a request that
is refused.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tenancy.api import admission
from tenancy.models import APIKey, APIKeyScope
from tenancy.selectors import api_key_authenticate, api_key_authenticate_recent

from .. import selectors, services
from ..envelope import InputError
from ..serializers import conversation_detail, conversation_summary
from .admission import (
    Refused,
    bearer_key,
    field_refused,
    ingest_event_checked,
    rate_limit,
    read_json,
    require_scope,
)


def api_key_admit(request, scope: str, *, recent: bool = False) -> APIKey:
    """The request's organization key, if it has ``scope``; else Refused (401 / 403)."""
    raw_key = bearer_key(request.headers.get("Authorization"))
    authenticate = api_key_authenticate_recent if recent else api_key_authenticate
    return require_scope(authenticate(raw_key), scope)


def answer(handler):
    """Turn a Refused, or an envelope's InputError, into its JSON response."""
    return admission.answer(handler, {InputError: field_refused})


@csrf_exempt
@require_POST
@answer
def ingest(request):
    """One live event from an agent CLI's bridge (scope ``ingest``)."""
    api_key = api_key_admit(request, APIKeyScope.INGEST, recent=True)
    body = read_json(request, settings.INGEST_MAX_BYTES)
    event = ingest_event_checked(body, api_key, settings.INGEST_RATE_LIMIT_PER_MINUTE)
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
    rate_limit(api_key, "read", settings.API_RATE_LIMIT_PER_MINUTE)
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
    rate_limit(api_key, "read", settings.API_RATE_LIMIT_PER_MINUTE)
    include, limit, cursor = selectors.message_options(request.GET)
    try:
        conversation = selectors.conversation_get(api_key.organization_id, conversation_id)
    except Http404:
        raise Refused(404, "not_found",
                      f"no session {conversation_id} in this organization") from None
    messages, next_cursor = (selectors.conversation_messages(conversation, limit=limit,
                                                             cursor=cursor)
                             if include else (None, None))
    return JsonResponse(conversation_detail(conversation, messages, next_cursor))
