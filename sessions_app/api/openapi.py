"""The sessions API in the OpenAPI schema (plain views, which drf-spectacular does not see)."""

from __future__ import annotations

SECURITY_SCHEMES = {
    "organizationApiKey": {"type": "http", "scheme": "bearer",
                           "description": "An organization API key `ap_live_…` with the "
                                          "scope the operation names."},
    "staffSession": {"type": "apiKey", "in": "cookie", "name": "sessionid",
                     "description": "A staff user's Django session (the live pages)."},
}
KEY = [{"organizationApiKey": []}]
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OBJECT = {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}


def _errors(*extra: str) -> dict:
    texts = {"400": "A bad field, named in fields", "401": "No, a wrong or a revoked key",
             "403": "The key lacks the scope", "404": "Not in the key's organization",
             "409": "The task is finished already (completed, failed or canceled)",
             "413": "Body too large", "429": "Rate limited; see Retry-After"}
    return {code: {"description": texts[code], "content": ERROR}
            for code in ("401", "403", *extra)}


def _query(name: str, text: str, kind: str = "string") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind},
            "description": text}


SESSION_PATHS = {
    "/api/ingest": {"post": {
        "operationId": "sessions_ingest", "tags": ["sessions"], "security": KEY,
        "summary": "One live event from an agent CLI (scope ingest)",
        "description": "The AgentPipe CLI bridge's envelope {type, timestamp, data}; see "
                       "docs/sessions.md. A repeat gets the same answer with duplicate: true.",
        "requestBody": {"required": True, "content": OBJECT},
        "responses": {"201": {"description": "Conversation or message stored",
                              "content": OBJECT},
                      "200": {"description": "Recorded (end, error, bridge events), or a "
                                             "repeat", "content": OBJECT},
                      **_errors("400", "413", "429")}}},
    "/api/sessions/upload": {"post": {
        "operationId": "sessions_upload", "tags": ["sessions"], "security": KEY,
        "summary": "A whole recorded session, ≤ 10,000 messages (scope upload)",
        "requestBody": {"required": True, "content": OBJECT},
        "responses": {"201": {"description": "Stored", "content": OBJECT},
                      "200": {"description": "This originalId was uploaded before",
                              "content": OBJECT},
                      **_errors("400", "413", "429")}}},
    "/api/sessions": {"get": {
        "operationId": "sessions_list", "tags": ["sessions"], "security": KEY,
        "summary": "The organization's sessions (scope read)",
        "parameters": [_query("page", "from 1", "integer"),
                       _query("limit", "1 to 100 (20)", "integer"),
                       _query("status", "active, completed, interrupted or error"),
                       _query("source", "stream or upload"),
                       _query("agentType", "a participant's agent type"),
                       _query("from", "started at or after (RFC 3339)"),
                       _query("to", "started before (RFC 3339)"),
                       _query("search", "in the initial prompt and the conversation id"),
                       _query("sort", "startedAt, endedAt, messageCount, createdAt, "
                                      "updatedAt"),
                       _query("order", "asc or desc (desc)")],
        "responses": {"200": {"description": "results, page, limit, total, pages",
                              "content": OBJECT}, **_errors("400")}}},
    "/api/sessions/{id}": {"get": {
        "operationId": "sessions_detail", "tags": ["sessions"], "security": KEY,
        "summary": "One session with participants and messages (scope read)",
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer"}},
                       _query("includeMessages", "true (default) or false"),
                       _query("messageLimit", "1 to 1,000 (100)", "integer"),
                       _query("cursor", "next_cursor of the previous answer")],
        "responses": {"200": {"description": "The session; next_cursor when more messages",
                              "content": OBJECT}, **_errors("400", "404")}}},
}


TASK = "/agent-to-agent/{org}/{agent}/tasks"
TASK_PARAMS = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in ("org", "agent")]
ONE_TASK = TASK_PARAMS + [{"name": "id", "in": "path", "required": True,
                           "schema": {"type": "string"}}]
USER_OR_KEY = [{"organizationApiKey": []}, {"staffSession": []}]


def _task_op(op_id: str, summary: str, params, ok: str, *errors: str, body: bool = False,
             security=USER_OR_KEY) -> dict:
    operation = {"operationId": op_id, "tags": ["agent tasks"], "summary": summary,
                 "security": security, "parameters": params,
                 "responses": {"200" if op_id in ("task_get", "task_messages_list",
                                                  "task_cancel") else "201":
                               {"description": ok, "content": OBJECT}, **_errors(*errors)}}
    if body:
        operation["requestBody"] = {"required": True, "content": OBJECT}
    return operation


TASK_PATHS = {
    f"{TASK}/": {"post": _task_op("task_create", "Hand a task to the agent (id optional)",
                                  TASK_PARAMS, "The task, with streamEndpoint", "400", "404",
                                  body=True)},
    f"{TASK}/{{id}}": {"get": _task_op("task_get", "The task and its endpoints", ONE_TASK,
                                       "The task", "404")},
    f"{TASK}/{{id}}/messages": {
        "post": _task_op("task_messages_post", "The agent's message: chunk, progress, "
                         "status, complete or error (API key, scope agent)", ONE_TASK,
                         "The message, numbered", "400", "404", "409", body=True,
                         security=KEY),
        "get": _task_op("task_messages_list", "Messages after ?after=<sequence> (polling)",
                        ONE_TASK + [_query("after", "a sequence number", "integer")],
                        "task and messages", "400", "404")},
    f"{TASK}/{{id}}/cancel": {"post": _task_op("task_cancel", "Cancel the task", ONE_TASK,
                                               "The task", "404", "409")},
    f"{TASK}/{{id}}/stream-token": {"post": _task_op(
        "task_stream_token", "A stream token for this task (a logged-in user)", ONE_TASK,
        "token, expiresAt, streamEndpoint", "404", "429",
        security=[{"staffSession": []}])},
    "/agent-to-agent/{org}/{agent}/.well-known/agent-card.json": {"get": {
        "operationId": "agent_card", "tags": ["agent tasks"], "summary": "The A2A agent card",
        "parameters": TASK_PARAMS, "security": [],
        "responses": {"200": {"description": "AgentCard (A2A v1.0)", "content": OBJECT},
                      "404": {"description": "No such organization", "content": ERROR}}}},
}


def add_session_paths(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        SECURITY_SCHEMES)
    result["paths"].update(SESSION_PATHS)
    result["paths"].update(TASK_PATHS)
    return result
