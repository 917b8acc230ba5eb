"""The OpenAPI description of every registered stream kind (drf-spectacular post-processing)."""

from __future__ import annotations

from .kinds import registry

ERROR_SCHEMA = {
    "type": "object", "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                   "fields": {"type": "object",
                              "additionalProperties": {"type": "array",
                                                       "items": {"type": "string"}}}},
}


def stream_paths() -> dict:
    return {kind.path: kind.openapi() for kind in registry.kinds.values()}


def add_stream_paths(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: the streams, which Django does not route."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error",
                                                                            ERROR_SCHEMA)
    result["paths"].update(stream_paths())
    return result
