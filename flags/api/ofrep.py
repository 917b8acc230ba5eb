"""OpenFeature Remote Evaluation Protocol (OFREP) v1.

Single flag (``POST /ofrep/v1/evaluate/flags/{key}``, server keys) and bulk
(``POST /ofrep/v1/evaluate/flags``, any environment key) evaluation with the protocol's bodies and
status codes, ``ETag``/``If-None-Match`` on bulk, ``Retry-After`` in whole seconds on 429, and an
``eventStreams`` entry: an SSE URL that sends ``refetchEvaluation`` whenever the flags change.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from flagstream import evaluation as ev

from ..environment_config import environment_config_get, etag_matches, strong_etag
from ..sdk_auth import SDKAuthError
from ..sdk_requests import RateLimited, evaluator_for, sdk_key_admit
from ..tokens import sdk_stream_token_issue

# Evaluation errors OFREP reports as 400 (the others are 404 or successes).
BAD_REQUEST_CODES = {ev.PARSE_ERROR, ev.TARGETING_KEY_MISSING, "INVALID_CONTEXT", ev.GENERAL}


def _admitted(request, *, require_server: bool):
    """(SDK key, None), or (None, the 401/403/429 response OFREP specifies)."""
    try:
        # OFREP names X-API-Key and Bearer; the key is never accepted from the URL here.
        return sdk_key_admit(request.headers.get, {}, scope="ofrep",
                             require_server=require_server), None
    except SDKAuthError as exc:
        return None, JsonResponse({"errorDetails": exc.detail}, status=exc.status)
    except RateLimited as exc:
        response = JsonResponse({"errorDetails": f"rate limit reached; retry in "
                                                 f"{exc.retry_after} s"}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return None, response


def _context(request):
    """(context, None) or (None, (errorCode, errorDetails))."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        return None, (ev.PARSE_ERROR, f"request body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return None, ("INVALID_CONTEXT", "the request body must be an object with a context")
    context = body.get("context", {})
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return None, ("INVALID_CONTEXT", "context must be an object")
    return context, None


def success_body(result) -> dict:
    return {"key": result.flag_key, "value": result.value, "reason": result.reason,
            "variant": result.variant, "metadata": {"version": result.version}}


def failure_body(result) -> dict:
    return {"key": result.flag_key, "errorCode": result.error_code,
            "errorDetails": result.error_message}


@csrf_exempt
@require_POST
def evaluate_flag(request, key: str):
    sdk_key, refused = _admitted(request, require_server=True)
    if refused:
        return refused
    context, problem = _context(request)
    if problem:
        return JsonResponse({"key": key, "errorCode": problem[0], "errorDetails": problem[1]},
                            status=400)
    result = evaluator_for(sdk_key).evaluate(key, context)
    if result.error_code == ev.FLAG_NOT_FOUND:
        return JsonResponse(failure_body(result), status=404)
    if result.error_code:
        return JsonResponse(failure_body(result), status=400)
    return JsonResponse(success_body(result))


@csrf_exempt
@require_POST
def evaluate_flags(request):
    sdk_key, refused = _admitted(request, require_server=False)
    if refused:
        return refused
    context, problem = _context(request)
    if problem:
        return JsonResponse({"errorCode": problem[0], "errorDetails": problem[1]}, status=400)
    config = environment_config_get(sdk_key.environment)
    flags = []
    for flag_key in sorted(config.evaluator.keys()):
        result = config.evaluator.evaluate(flag_key, context)
        flags.append(failure_body(result) if result.error_code else success_body(result))
    etag = strong_etag(flags)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        response = HttpResponse(status=304)
    else:
        stream_url = request.build_absolute_uri(
            f"/ofrep/v1/stream?token={sdk_stream_token_issue(sdk_key)}")
        response = JsonResponse({
            "flags": flags,
            "metadata": {"version": config.event_id},
            "eventStreams": [{"type": "sse", "url": stream_url,
                              "inactivityDelaySec": settings.OFREP_INACTIVITY_DELAY_SECONDS}],
        })
    response["ETag"] = etag
    return response
