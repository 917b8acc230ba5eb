"""The SDK REST API (environment keys): configuration with ETag, and server-side evaluation."""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ..environment_config import environment_config_get, etag_matches
from ..sdk_auth import SDKAuthError
from ..sdk_requests import (
    RateLimited,
    SDKInputError,
    evaluation_context,
    evaluator_for,
    result_body,
    sdk_key_admit,
)


def json_error(status: int, code: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def field_error(field: str, message: str) -> JsonResponse:
    return json_error(400, "validation_error", f"{field}: {message}", fields={field: [message]})


def admitted(request):
    """(SDK key, None), or (None, a 401/403/429 JSON response)."""
    try:
        return sdk_key_admit(request.headers.get, request.GET), None
    except SDKAuthError as exc:
        return None, json_error(exc.status, exc.code, exc.detail)
    except RateLimited as exc:
        response = json_error(429, "rate_limited", str(exc))
        response["Retry-After"] = str(exc.retry_after)
        return None, response


def parse_json_object(request):
    """The request body as a dict; (None, error response) when it is not a JSON object."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        return None, json_error(400, "parse_error", f"body is not valid JSON: {exc}",
                                fields={"body": ["not valid JSON"]})
    if not isinstance(body, dict):
        return None, field_error("body", "must be a JSON object")
    return body, None


@require_GET
def sdk_flags(request):
    """The environment's full flag configuration; 304 when ``If-None-Match`` still matches."""
    sdk_key, refused = admitted(request)
    if refused:
        return refused
    config = environment_config_get(sdk_key.environment)
    if etag_matches(request.headers.get("If-None-Match"), config.etag):
        response = HttpResponse(status=304)
    else:
        response = JsonResponse(config.document)
    response["ETag"] = config.etag
    response["Cache-Control"] = "no-cache"
    return response


KNOWN_EVALUATE_FIELDS = {"context", "flagKey", "flagKeys", "flags", "entityID", "entityContext"}


@csrf_exempt
@require_POST
def sdk_evaluate(request):
    """Evaluate one flag (``flagKey``) or many (``flags``/``flagKeys``, default all)."""
    sdk_key, refused = admitted(request)
    if refused:
        return refused
    body, error = parse_json_object(request)
    if error:
        return error
    unknown = sorted(set(body) - KNOWN_EVALUATE_FIELDS)
    if unknown:
        return field_error(unknown[0], "unknown field")
    try:
        context = evaluation_context(body)
    except SDKInputError as exc:
        return field_error(exc.field, exc.message)
    evaluator = evaluator_for(sdk_key)
    if "flagKey" in body:
        if not isinstance(body["flagKey"], str):
            return field_error("flagKey", "must be a string")
        return JsonResponse(result_body(evaluator.evaluate(body["flagKey"], context)))
    name = "flagKeys" if "flagKeys" in body else "flags"
    keys = body.get(name)
    if keys is None:
        keys = list(evaluator.keys())
    elif not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return field_error(name, "must be a list of flag keys")
    return JsonResponse({"flags": {key: result_body(evaluator.evaluate(key, context))
                                   for key in keys}})
