"""Flagstream Python SDK: the shared evaluation engine (and, later, the streaming client)."""

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

__all__ = [
    "bucket", "murmur3_32", "ConfigError", "EvaluationResult", "Evaluator",
    "STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "ERROR",
    "FLAG_NOT_FOUND", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "PARSE_ERROR",
]
__version__ = "0.1.0"
