"""OpenAPI descriptions of the analytics SDK endpoints (plain Django views): added to the schema
by ``add_analytics_paths`` (a POSTPROCESSING_HOOKS entry)."""

from __future__ import annotations

from flags.api.openapi import ERROR, SDK, _auth_errors, _json

STAMP = {"description": "ISO 8601, or milliseconds since the epoch",
         "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}
EVALUATION = {"type": "object", "required": ["flagKey", "variant", "timestamp"], "properties": {
    "flagKey": {"type": "string"}, "variant": {"type": "string"},
    "reason": {"type": "string", "description": "OpenFeature reason (TARGETING_MATCH, …)"},
    "contextId": {"type": "string"}, "value": {}, "timestamp": STAMP}}
SUMMARY = {"type": "object", "required": ["startDate", "endDate", "flags"], "properties": {
    "startDate": STAMP, "endDate": STAMP,
    "flags": {"type": "object", "description": "{flagKey: {variant: count}}",
              "additionalProperties": {"type": "object",
                                       "additionalProperties": {"type": "integer"}}}}}
CUSTOM = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "contextId": {"type": "string"}, "value": {"type": "number"},
    "details": {"type": "object", "additionalProperties": True}, "timestamp": STAMP}}
ACCEPTED = {"type": "object", "properties": {
    "payloadId": {"type": "string"}, "duplicate": {"type": "boolean"},
    "accepted": {"type": "object", "properties": {
        "evaluations": {"type": "integer"}, "summaryCounts": {"type": "integer"},
        "events": {"type": "integer"}}}}}
PAYLOAD_ID = {"name": "X-Payload-Id", "in": "header", "required": False,
              "schema": {"type": "string"},
              "description": "The batch's id: a batch sent again with it is not stored again"}
ANSWERS = {"202": {"description": "Stored (committed), or a duplicate of a stored batch",
                   "content": _json(ACCEPTED)},
           "400": {"description": "A bad item; fields names it (events[2].value)",
                   "content": ERROR},
           "413": {"description": "Too many items or too large a body", "content": ERROR},
           **_auth_errors(ERROR)}

ANALYTICS_PATHS = {
    "/api/sdk/events": {"post": {
        "operationId": "sdk_events", "tags": ["sdk"], "security": SDK,
        "summary": "A batch of evaluation events, summary counters and custom events",
        "parameters": [PAYLOAD_ID],
        "requestBody": {"required": True, "content": _json({"type": "object", "properties": {
            "payloadId": {"type": "string"},
            "evaluations": {"type": "array", "items": EVALUATION},
            "summary": SUMMARY, "summaries": {"type": "array", "items": SUMMARY},
            "events": {"type": "array", "items": CUSTOM}}})},
        "responses": ANSWERS}},
    "/api/sdk/track": {"post": {
        "operationId": "sdk_track", "tags": ["sdk"], "security": SDK,
        "summary": "One custom event (OpenFeature Tracking API); timestamp defaults to now",
        "parameters": [PAYLOAD_ID],
        "requestBody": {"required": True, "content": _json(CUSTOM)},
        "responses": ANSWERS}},
}


def add_analytics_paths(result, generator, request, public):
    result["paths"].update(ANALYTICS_PATHS)
    return result
