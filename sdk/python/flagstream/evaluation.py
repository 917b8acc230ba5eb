"""The flag evaluation engine: pure Python, no Django, shared by the server and the SDK.

An :class:`Evaluator` is built once from an environment's configuration (the document served by
``GET /api/sdk/flags``) and compiles every rule into predicates, so that evaluating a flag for a
context is a few function calls and, for a split, one hash. Results are immutable and shared.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .bucketing import BUCKET_COUNT, murmur3_32, weight_to_units
from .errors import ConfigError
from .operators import Predicate, compile_constraint

# Reasons (OpenFeature vocabulary).
STATIC = "STATIC"
TARGETING_MATCH = "TARGETING_MATCH"
SPLIT = "SPLIT"
DEFAULT = "DEFAULT"
DISABLED = "DISABLED"
ERROR = "ERROR"

# Error codes (OpenFeature vocabulary).
FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
TYPE_MISMATCH = "TYPE_MISMATCH"
TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
PARSE_ERROR = "PARSE_ERROR"
GENERAL = "GENERAL"

KINDS = ("boolean", "string", "number", "json")
MAX_PREREQUISITE_DEPTH = 10


class EvaluationResult:
    """What an evaluation served. Immutable; shared between calls, so never mutate ``value``."""

    __slots__ = ("flag_key", "value", "variant", "reason", "error_code", "error_message", "version")

    def __init__(self, flag_key, value, variant, reason, error_code=None, error_message=None,
                 version=None):
        self.flag_key = flag_key
        self.value = value
        self.variant = variant
        self.reason = reason
        self.error_code = error_code
        self.error_message = error_message
        self.version = version

    def to_dict(self) -> dict:
        """JSON-safe camelCase form used by the REST API."""
        data = {"key": self.flag_key, "value": self.value, "variant": self.variant,
                "reason": self.reason}
        if self.version is not None:
            data["version"] = self.version
        if self.error_code:
            data["errorCode"] = self.error_code
            data["errorMessage"] = self.error_message
        return data

    def __repr__(self) -> str:
        return (f"EvaluationResult({self.flag_key!r}, value={self.value!r}, "
                f"variant={self.variant!r}, reason={self.reason!r}, error={self.error_code!r})")


def error_result(flag_key: str, code: str, message: str, version=None) -> EvaluationResult:
    """A result that carries no value: the caller falls back to its own default."""
    return EvaluationResult(flag_key, None, None, ERROR, code, message, version)


def value_matches_kind(kind: str, value: Any) -> bool:
    """Whether ``value`` is a legal variant value for a flag of ``kind``."""
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "json":
        return isinstance(value, (dict, list))
    return False


def compile_segment(key: str, segment: Mapping[str, Any]) -> Predicate:
    """A predicate that is true when a context satisfies every constraint of the segment."""
    constraints = segment.get("constraints", []) if isinstance(segment, Mapping) else None
    if not isinstance(constraints, list):
        raise ConfigError("constraints", "must be a list")
    predicates = []
    for index, constraint in enumerate(constraints):
        if isinstance(constraint, Mapping) and constraint.get("operator") == "segment_match":
            raise ConfigError(f"constraints.{index}.operator", "segments cannot nest segments")
        try:
            predicates.append(compile_constraint(constraint))
        except ConfigError as exc:
            raise exc.prefixed(f"constraints.{index}") from None
    predicates = tuple(predicates)
    return lambda context: all(p(context) for p in predicates)


class _Split:
    __slots__ = ("prefix", "thresholds", "results", "error")

    def __init__(self, prefix, thresholds, results, error):
        self.prefix = prefix
        self.thresholds = thresholds
        self.results = results
        self.error = error


class CompiledFlag:
    """One flag's environment state compiled for fast evaluation."""

    __slots__ = ("key", "kind", "version", "enabled", "variants", "off_result", "prerequisites",
                 "rules", "default")

    def __init__(self, key: str, config: Mapping[str, Any], segments: Mapping[str, Predicate]):
        if not isinstance(config, Mapping):
            raise ConfigError("", "a flag must be an object")
        self.key = key
        self.kind = config.get("kind")
        if self.kind not in KINDS:
            raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
        self.version = config.get("version")
        variants = config.get("variants")
        if not isinstance(variants, Mapping) or not variants:
            raise ConfigError("variants", "must be a non-empty object of variant key to value")
        for variant_key, value in variants.items():
            if not value_matches_kind(self.kind, value):
                raise ConfigError(f"variants.{variant_key}", f"must be a {self.kind} value")
        self.variants = dict(variants)
        self.enabled = bool(config.get("enabled", False))
        off_variant = config.get("offVariant")
        if off_variant is None:
            self.off_result = EvaluationResult(key, None, None, DISABLED, version=self.version)
        else:
            self.off_result = self._fixed("offVariant", off_variant, DISABLED)

        prerequisites = config.get("prerequisites") or []
        if not isinstance(prerequisites, list):
            raise ConfigError("prerequisites", "must be a list")
        self.prerequisites = []
        for index, prerequisite in enumerate(prerequisites):
            if not isinstance(prerequisite, Mapping) or not isinstance(prerequisite.get("flag"), str):
                raise ConfigError(f"prerequisites.{index}.flag", "must name a flag")
            if not isinstance(prerequisite.get("variant"), str):
                raise ConfigError(f"prerequisites.{index}.variant", "must name a variant")
            self.prerequisites.append((prerequisite["flag"], prerequisite["variant"]))
        self.prerequisites = tuple(self.prerequisites)

        salt = config.get("salt") or ""
        prefix = f"{key}.{salt}."
        rules = config.get("rules") or []
        if not isinstance(rules, list):
            raise ConfigError("rules", "must be a list")
        compiled_rules = []
        for index, rule in enumerate(rules):
            path = f"rules.{index}"
            if not isinstance(rule, Mapping):
                raise ConfigError(path, "a rule must be an object")
            constraints = rule.get("constraints", [])
            if not isinstance(constraints, list):
                raise ConfigError(f"{path}.constraints", "must be a list")
            predicates = []
            for c_index, constraint in enumerate(constraints):
                try:
                    predicates.append(compile_constraint(constraint, segments))
                except ConfigError as exc:
                    raise exc.prefixed(f"{path}.constraints.{c_index}") from None
            compiled_rules.append((tuple(predicates), self._outcome(path, rule, prefix, TARGETING_MATCH)))
        self.rules = tuple(compiled_rules)

        default_rule = config.get("defaultRule")
        if default_rule is None:
            raise ConfigError("defaultRule", "is required")
        static = not self.rules and not self.prerequisites
        self.default = self._outcome("defaultRule", default_rule, prefix,
                                     STATIC if static else DEFAULT)

    def _fixed(self, field: str, variant: Any, reason: str) -> EvaluationResult:
        if variant not in self.variants:
            raise ConfigError(field, f"unknown variant {variant!r}")
        return EvaluationResult(self.key, self.variants[variant], variant, reason,
                                version=self.version)

    def _outcome(self, path: str, rule: Mapping[str, Any], prefix: str, reason: str):
        """A fixed EvaluationResult, or a _Split whose results are prebuilt per variant."""
        if not isinstance(rule, Mapping):
            raise ConfigError(path, "must be an object")
        has_variant = rule.get("variant") is not None
        distribution = rule.get("distribution")
        if has_variant == (distribution is not None):
            raise ConfigError(path, "needs exactly one of 'variant' and 'distribution'")
        if has_variant:
            return self._fixed(f"{path}.variant", rule["variant"], reason)
        if not isinstance(distribution, list) or not distribution:
            raise ConfigError(f"{path}.distribution", "must be a non-empty list")
        thresholds, results, total = [], [], 0
        for index, part in enumerate(distribution):
            field = f"{path}.distribution.{index}"
            if not isinstance(part, Mapping):
                raise ConfigError(field, "must be an object")
            weight = part.get("weight")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ConfigError(f"{field}.weight", "must be a number from 0 to 100")
            units = weight_to_units(weight)
            if abs(units - weight * 1000) > 1e-6:
                raise ConfigError(f"{field}.weight", "has more than three decimals")
            total += units
            thresholds.append(total)
            results.append(self._fixed(f"{field}.variant", part.get("variant"), SPLIT))
        if total != BUCKET_COUNT:
            raise ConfigError(f"{path}.distribution",
                              f"weights must sum to 100, not {total / 1000:g}")
        error = error_result(self.key, TARGETING_KEY_MISSING,
                             "a percentage split needs a targetingKey", self.version)
        return _Split(prefix, tuple(thresholds), tuple(results), error)

    def serve(self, outcome, context: Mapping[str, Any]) -> EvaluationResult:
        if outcome.__class__ is EvaluationResult:
            return outcome
        targeting_key = context.get("targetingKey")
        if targeting_key is None or targeting_key == "":
            return outcome.error
        if targeting_key.__class__ is not str:
            targeting_key = str(targeting_key)
        point = murmur3_32((outcome.prefix + targeting_key).encode()) % BUCKET_COUNT
        for threshold, result in zip(outcome.thresholds, outcome.results):
            if point < threshold:
                return result
        return outcome.results[-1]  # unreachable: the last threshold is BUCKET_COUNT


class _BrokenFlag:
    """Stands in for a flag whose configuration could not be compiled."""

    __slots__ = ("key", "kind", "result")

    def __init__(self, key: str, kind: Any, error: ConfigError):
        self.key = key
        self.kind = kind
        self.result = error_result(key, PARSE_ERROR, f"invalid flag configuration: {error}")


class Evaluator:
    """Evaluates the flags of one environment configuration.

    ``config`` is ``{"flags": {key: flag}, "segments": {key: segment}}`` as served by
    ``GET /api/sdk/flags``. A flag whose configuration is invalid evaluates to a PARSE_ERROR
    result; the others are unaffected.
    """

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.segments: dict[str, Predicate] = {}
        for key, segment in (config.get("segments") or {}).items():
            try:
                self.segments[key] = compile_segment(key, segment)
            except ConfigError:
                continue  # rules that use it then fail to compile and report PARSE_ERROR
        self.flags: dict[str, CompiledFlag | _BrokenFlag] = {}
        for key, flag in (config.get("flags") or {}).items():
            try:
                self.flags[key] = CompiledFlag(key, flag, self.segments)
            except ConfigError as exc:
                kind = flag.get("kind") if isinstance(flag, Mapping) else None
                self.flags[key] = _BrokenFlag(key, kind, exc)

    def keys(self) -> Iterable[str]:
        return self.flags.keys()

    def evaluate(self, flag_key: str, context: Any = None,
                 expected_kind: str | None = None) -> EvaluationResult:
        """Evaluate ``flag_key`` for ``context`` (``{"targetingKey": ..., **attributes}``).

        ``expected_kind`` ("boolean", "string", "number", "json") makes a flag of another kind
        answer TYPE_MISMATCH. Never raises for bad input: errors come back as ERROR results.
        """
        flag = self.flags.get(flag_key)
        if flag is None:
            return error_result(flag_key, FLAG_NOT_FOUND, f"flag {flag_key!r} not found")
        if context is None:
            context = {}
        elif not isinstance(context, Mapping):
            return error_result(flag_key, PARSE_ERROR, "the context must be an object")
        if expected_kind is not None and flag.kind != expected_kind:
            return error_result(flag_key, TYPE_MISMATCH,
                                f"flag {flag_key!r} is {flag.kind}, not {expected_kind}",
                                getattr(flag, "version", None))
        return self._evaluate(flag, context, 0)

    def _evaluate(self, flag, context, depth: int) -> EvaluationResult:
        if flag.__class__ is _BrokenFlag:
            return flag.result
        if not flag.enabled:
            return flag.off_result
        for prerequisite_key, required_variant in flag.prerequisites:
            prerequisite = self.flags.get(prerequisite_key)
            if prerequisite is None or depth >= MAX_PREREQUISITE_DEPTH:
                return flag.off_result
            if self._evaluate(prerequisite, context, depth + 1).variant != required_variant:
                return flag.off_result
        for predicates, outcome in flag.rules:
            for predicate in predicates:
                if not predicate(context):
                    break
            else:
                return flag.serve(outcome, context)
        return flag.serve(flag.default, context)

    def evaluate_all(self, context: Any = None) -> dict[str, EvaluationResult]:
        """Every flag of the environment, evaluated for ``context``."""
        return {key: self.evaluate(key, context) for key in self.flags}
