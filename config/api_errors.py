"""Every answer under the machine-facing prefixes is JSON in the project's error shape.

Django answers some errors itself, before or around the views: an unknown URL (404 HTML), a
method a plain view does not take (405 with an empty body), a body over
DATA_UPLOAD_MAX_MEMORY_SIZE (``RequestDataTooBig``: 400 HTML and a traceback on the console).
A database that cannot be reached (restarting, failing over) is a 503 with ``Retry-After``
on every path, not a 500: the client is to come back, not to give up.
Under ``/api/``, ``/ofrep/``, ``/stream/`` and ``/ws`` those become
``{"error": code, "detail": sentence}`` with the right status (413 for a body too large).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse

from tenancy.api.admission import database_refusal

JSON_PREFIXES = ("/api/", "/ofrep/", "/stream/", "/ws", "/agent-to-agent/")

CODES = {400: "bad_request", 401: "not_authenticated", 403: "permission_denied",
         404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
         500: "server_error"}


def _too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = f"the request body is larger than {limit:,} bytes"
    return JsonResponse({"error": "payload_too_large", "detail": detail,
                         "fields": {"body": [detail]}}, status=413)


class JsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(JSON_PREFIXES) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        detail = {404: f"nothing at {request.path}",
                  405: f"{request.method} is not allowed here"}.get(status, "request failed")
        replacement = JsonResponse({"error": CODES.get(status, "error"), "detail": detail},
                                   status=status)
        if response.has_header("Allow"):
            replacement["Allow"] = response["Allow"]
        return replacement

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(JSON_PREFIXES):
            return _too_large()
        refused = database_refusal(exception)
        if refused is None:
            return None
        response = JsonResponse(refused.body, status=refused.status) \
            if request.path.startswith(JSON_PREFIXES) else \
            HttpResponse(refused.body["detail"], status=refused.status, content_type="text/plain")
        for name, value in refused.headers.items():
            response[name] = value
        return response
