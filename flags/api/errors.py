"""One JSON error shape for every API error.

``{"error": <code>, "detail": <sentence>, "fields": {<dotted.path>: [<message>, ...]}}`` —
``fields`` only on validation errors, naming each offending field.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import ConflictError, VersionMismatch
from ..services import validation_error_fields


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"a.0.b": [messages]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else str(key)
            out.update(flatten(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "body"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "body"] = [str(detail)]
    return out


def validation_response(fields: dict[str, list[str]]) -> Response:
    first_field, messages = next(iter(fields.items()))
    return Response({"error": "validation_error", "detail": f"{first_field}: {messages[0]}",
                     "fields": fields}, status=status.HTTP_400_BAD_REQUEST)


def error_response(code: str, detail: str, http_status: int, **extra) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=http_status)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return validation_response(validation_error_fields(exc))
    if isinstance(exc, ConflictError):
        extra = {"fields": {exc.field: [exc.message]}} if exc.field else {}
        return error_response("conflict", exc.message, status.HTTP_409_CONFLICT, **extra)
    if isinstance(exc, VersionMismatch):
        return error_response("precondition_failed",
                              f"the state is at version {exc.current}, not {exc.expected}",
                              status.HTTP_412_PRECONDITION_FAILED, currentVersion=exc.current)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "permission denied")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return validation_response(flatten(exc.detail) or {"body": ["invalid input"]})
    if isinstance(exc, exceptions.ParseError):
        response.data = {"error": "parse_error", "detail": str(exc.detail),
                         "fields": {"body": [str(exc.detail)]}}
        return response
    if isinstance(exc, exceptions.Throttled):
        response.data = {"error": "rate_limited",
                         "detail": f"more than {settings.API_RATE_LIMIT_PER_MINUTE} requests a "
                                   f"minute with this user: try again in {exc.wait} s"}
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"error": code if isinstance(code, str) else "error", "detail": str(detail)}
    return response
