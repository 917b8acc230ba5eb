"""OpenAPI descriptions of the SDK API and OFREP (plain Django views, which drf-spectacular does
not see): added to the schema by ``add_sdk_paths`` (a POSTPROCESSING_HOOKS entry)."""

from __future__ import annotations

SECURITY_SCHEMES = {
    "sdkKey": {"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "An environment key: `Bearer srv-…`, `Bearer cli-…` or the bare "
                              "key (X-API-Key works too)."},
    "sdkKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "sdkClientKeyQuery": {"type": "apiKey", "in": "query", "name": "sdkKey",
                          "description": "A client key (cli-…) only: server keys are refused "
                                         "in URLs."},
}
SDK = [{"sdkKey": []}, {"sdkKeyHeader": []}, {"sdkClientKeyQuery": []}]
HEADERS_ONLY = [{"sdkKey": []}, {"sdkKeyHeader": []}]

JSON_OBJECT = {"type": "object", "additionalProperties": True}
CONTEXT = {"type": "object", "additionalProperties": True,
           "properties": {"targetingKey": {"type": "string"}}}
RESULT = {"type": "object", "properties": {
    "flagKey": {"type": "string"}, "value": {}, "variant": {"type": "string", "nullable": True},
    "variantKey": {"type": "string", "nullable": True}, "reason": {"type": "string"},
    "version": {"type": "integer", "nullable": True}, "errorCode": {"type": "string"},
    "errorMessage": {"type": "string"}}}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OFREP_ERROR = {"application/json": {"schema": {"type": "object", "properties": {
    "key": {"type": "string"}, "errorCode": {"type": "string"},
    "errorDetails": {"type": "string"}}}}}


def _json(schema) -> dict:
    return {"application/json": {"schema": schema}}


def _auth_errors(content) -> dict:
    return {"401": {"description": "No, a wrong or a revoked key", "content": content},
            "429": {"description": "Rate limited; see Retry-After", "content": content}}


SDK_PATHS = {
    "/api/sdk/flags": {"get": {
        "operationId": "sdk_flags", "tags": ["sdk"], "security": SDK,
        "summary": "The environment's whole flag configuration",
        "parameters": [{"name": "If-None-Match", "in": "header", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "Flags and segments; strong ETag",
                              "content": _json(JSON_OBJECT)},
                      "304": {"description": "Unchanged since the ETag given"},
                      **_auth_errors(ERROR)}}},
    "/api/sdk/evaluate": {"post": {
        "operationId": "sdk_evaluate", "tags": ["sdk"], "security": SDK,
        "summary": "Evaluate one flag (flagKey) or many (flags, default all) for a context",
        "requestBody": {"required": True, "content": _json({"type": "object", "properties": {
            "flagKey": {"type": "string"}, "flags": {"type": "array",
                                                     "items": {"type": "string"}},
            "context": CONTEXT, "entityID": {"type": "string"},
            "entityContext": JSON_OBJECT}})},
        "responses": {"200": {"description": "One result, or {flags: {key: result}}",
                              "content": _json(RESULT)},
                      "400": {"description": "Malformed body; fields names the field",
                              "content": ERROR},
                      "413": {"description": "Body too large", "content": ERROR},
                      **_auth_errors(ERROR)}}},
    "/ofrep/v1/evaluate/flags/{key}": {"post": {
        "operationId": "ofrep_evaluate_flag", "tags": ["ofrep"], "security": HEADERS_ONLY,
        "summary": "OpenFeature Remote Evaluation Protocol: one flag (server keys)",
        "parameters": [{"name": "key", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"content": _json({"type": "object",
                                          "properties": {"context": CONTEXT}})},
        "responses": {"200": {"description": "key, value, reason, variant, metadata",
                              "content": _json(JSON_OBJECT)},
                      "400": {"description": "Bad context or evaluation error",
                              "content": OFREP_ERROR},
                      "404": {"description": "FLAG_NOT_FOUND", "content": OFREP_ERROR},
                      "403": {"description": "A client key: single flags need a server key",
                              "content": OFREP_ERROR},
                      **_auth_errors(OFREP_ERROR)}}},
    "/ofrep/v1/evaluate/flags": {"post": {
        "operationId": "ofrep_evaluate_flags", "tags": ["ofrep"], "security": HEADERS_ONLY,
        "summary": "OpenFeature Remote Evaluation Protocol: every flag, with ETag and an "
                   "eventStreams SSE URL",
        "parameters": [{"name": "If-None-Match", "in": "header", "required": False,
                        "schema": {"type": "string"}}],
        "requestBody": {"content": _json({"type": "object",
                                          "properties": {"context": CONTEXT}})},
        "responses": {"200": {"description": "flags, metadata, eventStreams",
                              "content": _json(JSON_OBJECT)},
                      "304": {"description": "Unchanged since the ETag given"},
                      "400": {"description": "INVALID_CONTEXT: the context is not an object",
                              "content": OFREP_ERROR},
                      **_auth_errors(OFREP_ERROR)}}},
}


def add_sdk_paths(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        SECURITY_SCHEMES)
    result["paths"].update(SDK_PATHS)
    return result
