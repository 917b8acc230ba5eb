"""The company endpoints in the OpenAPI schema (plain views, which drf-spectacular does not
see). The stream itself is documented from its stream kind (streaming.openapi)."""

from __future__ import annotations

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OBJECT = {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}
COMPANY = {"name": "companyId", "in": "query", "required": True, "schema": {"type": "string"},
           "description": "the organization's slug"}


def _errors(texts: dict[str, str]) -> dict:
    return {code: {"description": text, "content": ERROR} for code, text in texts.items()}


COMPANY_PATHS = {
    "/stream/token": {"post": {
        "operationId": "company_stream_token", "tags": ["company stream"],
        "security": [{"bearerJWT": []}, {"staffSession": []}],
        "summary": "A token that opens the company stream for the calling member (?token=)",
        "parameters": [COMPANY],
        "responses": {"201": {"description": "{token, expiresAt, streamEndpoint}",
                              "content": OBJECT},
                      **_errors({"400": "companyId missing", "401": "Not logged in",
                                 "403": "Not a member, or streaming is off for the company",
                                 "404": "No such company",
                                 "429": "More than 5 in 30 s; see Retry-After"})}}},
    "/stream/publish": {"post": {
        "operationId": "company_publish", "tags": ["company stream"],
        "security": [{"organizationApiKey": []}],
        "summary": "Publish {companyId, type, data} or {events: [...]} (scope publish)",
        "description": "Stored for replay and sent to the company's open streams; all or "
                       "nothing. companyId must be the key's organization.",
        "requestBody": {"required": True, "content": OBJECT},
        "responses": {"202": {"description": "{published: n}", "content": OBJECT},
                      **_errors({"400": "A bad field, named in fields",
                                 "401": "No, a wrong or a revoked key",
                                 "403": "The key lacks the scope, another company's id, or "
                                        "streaming is off", "413": "Body too large"})}}},
    "/stream/stats": {"get": {
        "operationId": "company_stream_stats", "tags": ["operators"],
        "security": [{"staffSession": []}, {"opsToken": []}],
        "summary": "Company streams across every server process, the replay store, the bridge",
        "description": "connections{totalConnections, activeCompanies, connectionsByCompany}, "
                       "replayCache{companies, totalEvents, eventsByCompany, retentionHours}, "
                       "bridge{configured, running, connected, lag, dropped, ...}, "
                       "servers{processes, streamsByKind}, timestamp. For a staff session or "
                       "Authorization: Bearer <STREAM_OPS_TOKEN>.",
        "responses": {"200": {"description": "the figures", "content": OBJECT},
                      **_errors({"401": "No staff session and no (or a wrong) ops token",
                                 "403": "Logged in, not staff"})}}},
    "/stream/health": {"get": {
        "operationId": "company_stream_health", "tags": ["operators"], "security": [],
        "summary": "For load balancers: storage, Redis and the NATS bridge",
        "responses": {"200": {"description": "{status: ok, streaming{enabled, "
                                             "activeConnections, activeCompanies}, timestamp}",
                              "content": OBJECT},
                      "503": {"description": "{status: unavailable, reasons: [...]}",
                              "content": OBJECT}}}},
    "/metrics": {"get": {
        "operationId": "stream_metrics", "tags": ["operators"],
        "security": [{"staffSession": []}, {"opsToken": []}],
        "summary": "Prometheus text: streams, events published and delivered, replays, "
                   "resets, idle and slow closes, bridge lag",
        "responses": {"200": {"description": "text/plain; version=0.0.4",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                      **_errors({"401": "No staff session and no (or a wrong) ops token",
                                 "403": "Logged in, not staff"})}}},
}


def add_company_paths(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result["paths"].update(COMPANY_PATHS)
    result.setdefault("components", {}).setdefault("securitySchemes", {})["opsToken"] = {
        "type": "http", "scheme": "bearer", "description": "STREAM_OPS_TOKEN"}
    return result
