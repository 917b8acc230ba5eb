"""The error answers every operation can give, added to the schema (the last of
SPECTACULAR_SETTINGS' POSTPROCESSING_HOOKS), so that clients — and the schema fuzzer — meet no
undocumented status: 400 for an operation with parameters or a body, 413 with a body, 401
and 403 where a credential is needed, 404 where the path names an object, 429 where requests
are rate-limited — and wherever a credential is taken, since an address that keeps presenting
refused ones is turned away (tenancy.credential_guard). All are ``{"error", "detail", "fields"?}`` (components/schemas/Error);
OFREP operations keep the errors their protocol defines."""

from __future__ import annotations

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
DESCRIPTIONS = {
    "400": "Invalid parameters or body: `fields` names each",
    "401": "No credential, or a wrong, revoked or expired one",
    "403": "The credential may not do this (role, scope, another company's token)",
    "404": "No such object, or one of another organization",
    "413": "The body is larger than this endpoint takes",
    "429": "Rate limited: retry after `Retry-After` seconds",
}
# Per key, per user or per address (README, docs/sessions.md, docs/analytics.md).
RATE_LIMITED = ("/api/sdk/", "/api/ingest", "/api/sessions/upload", "/api/auth/token",
                "/stream/token", "/agent-to-agent/")
ERROR_SCHEMA = {"type": "object", "required": ["error", "detail"], "properties": {
    "error": {"type": "string", "description": "A code: validation_error, not_found, …"},
    "detail": {"type": "string", "description": "A sentence for people"},
    "fields": {"type": "object", "additionalProperties": {
        "type": "array", "items": {"type": "string"}}}}, "additionalProperties": True}


def _errors_of(path: str, operation: dict) -> list[str]:
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    security = [requirement for requirement in operation.get("security", [])
                if requirement]  # {} means "no credential" in OpenAPI
    codes = []
    if body or any(p.get("in") in ("query", "header") for p in parameters):
        codes.append("400")
    stream = "text/event-stream" in operation["responses"].get("200", {}).get("content", {})
    if security or "401" in operation["responses"] or path.startswith("/api/auth/"):
        codes += ["401", "403"]
    # An object named in the path; the management API resolves an organization or project
    # for every call (a page past the last is 404 too); a stream its company, task or org.
    if any(p.get("in") == "path" for p in parameters) or path.startswith("/api/v1/") or stream:
        codes.append("404")
    if body:
        codes.append("413")
    if path.startswith(RATE_LIMITED) or "401" in codes:
        codes.append("429")
    return codes


def document_errors(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Error", ERROR_SCHEMA)
    for path, item in result.get("paths", {}).items():
        if path.startswith("/ofrep/v1/evaluate"):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code in _errors_of(path, operation):
                if code not in responses:
                    responses[code] = {"description": DESCRIPTIONS[code], "content": ERROR}
    return result
