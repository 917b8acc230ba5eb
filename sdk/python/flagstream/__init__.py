"""Flagstream Python SDK: the shared evaluation engine and a streaming client."""

from .bucketing import bucket, murmur3_32
from .errors import ConfigError
from .evaluation import (
    DEFAULT,
    DISABLED,
    ERROR,
    FLAG_NOT_FOUND,
    PARSE_ERROR,
    SPLIT,
    STATIC,
    TARGETING_KEY_MISSING,
    TARGETING_MATCH,
    TYPE_MISMATCH,
    EvaluationResult,
    Evaluator,
)


def __getattr__(name):
    # The client needs httpx; the engine alone (what the server imports) does not.
    if name == "FlagstreamClient":
        from .client import FlagstreamClient

        return FlagstreamClient
    raise AttributeError(name)


__all__ = [
    "FlagstreamClient",
    "bucket", "murmur3_32", "ConfigError", "EvaluationResult", "Evaluator",
    "STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "ERROR",
    "FLAG_NOT_FOUND", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "PARSE_ERROR",
]
__version__ = "0.1.0"
