"""Constraint operators, compiled once into predicates over a context dict.

A constraint is ``{"attribute": str, "operator": str, "values": [...]}``. A positive operator
matches when it holds for **any** of ``values``; a negative one (``neq``, ``not_in``,
``not_contains``) when it holds for none. A missing (or null) attribute matches nothing except
``not_exists``. See docs/evaluation.md for the full table.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from .errors import ConfigError

Predicate = Callable[[Mapping[str, Any]], bool]

_MISSING = object()

STRING_OPERATORS = frozenset(
    {"eq", "neq", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with"}
)
NUMBER_OPERATORS = frozenset({"lt", "lte", "gt", "gte"})
SEMVER_OPERATORS = frozenset({"semver_eq", "semver_lt", "semver_gt"})
DATETIME_OPERATORS = frozenset({"before", "after"})
PRESENCE_OPERATORS = frozenset({"exists", "not_exists"})
OPERATORS = (
    STRING_OPERATORS
    | NUMBER_OPERATORS
    | SEMVER_OPERATORS
    | DATETIME_OPERATORS
    | PRESENCE_OPERATORS
    | {"regex", "segment_match"}
)


def as_string(value: Any) -> str | None:
    """The string form string operators compare: JSON spelling for booleans and whole numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return None


def as_number(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None otherwise (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(value: Any) -> tuple | None:
    """A tuple that orders versions by SemVer 2.0 precedence; None if ``value`` is not one.

    ``1.2`` reads as ``1.2.0`` and a leading ``v`` is allowed; build metadata is ignored.
    """
    if not isinstance(value, str):
        return None
    match = _SEMVER.match(value.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    release = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return release + ((1,),)
    identifiers = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return release + ((0,) + identifiers,)


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch from an ISO 8601 string or a number of epoch seconds.

    A datetime without an offset is read as UTC.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _getter(attribute: str) -> Callable[[Mapping[str, Any]], Any]:
    """A fast attribute reader; ``a.b`` falls back to nested lookup when no key ``a.b`` exists."""
    if "." not in attribute:
        def get(context):
            return context.get(attribute, _MISSING)

        return get
    parts = attribute.split(".")

    def get_nested(context):
        value = context.get(attribute, _MISSING)
        if value is not _MISSING:
            return value
        value = context
        for part in parts:
            if not isinstance(value, Mapping):
                return _MISSING
            value = value.get(part, _MISSING)
            if value is _MISSING:
                return _MISSING
        return value

    return get_nested


def _values(constraint: Mapping[str, Any], count_required: bool = True) -> list:
    values = constraint.get("values")
    if not isinstance(values, list):
        raise ConfigError("values", "must be a list")
    if count_required and not values:
        raise ConfigError("values", "must not be empty")
    return values


def _converted(values: list, convert: Callable[[Any], Any], what: str) -> list:
    out = []
    for index, raw in enumerate(values):
        converted = convert(raw)
        if converted is None:
            raise ConfigError(f"values.{index}", f"{raw!r} is not {what}")
        out.append(converted)
    return out


def compile_constraint(
    constraint: Any, segments: Mapping[str, Predicate] | None = None
) -> Predicate:
    """Compile one constraint into a predicate; raise ConfigError naming the bad field."""
    if not isinstance(constraint, Mapping):
        raise ConfigError("", "a constraint must be an object")
    operator = constraint.get("operator")
    if operator not in OPERATORS:
        raise ConfigError("operator", f"unknown operator {operator!r}")

    if operator == "segment_match":
        keys = _values(constraint)
        known = segments or {}
        predicates = []
        for index, key in enumerate(keys):
            if key not in known:
                raise ConfigError(f"values.{index}", f"unknown segment {key!r}")
            predicates.append(known[key])
        predicates = tuple(predicates)
        return lambda context: any(p(context) for p in predicates)

    attribute = constraint.get("attribute")
    if not isinstance(attribute, str) or not attribute:
        raise ConfigError("attribute", "must be a non-empty string")
    get = _getter(attribute)

    if operator in PRESENCE_OPERATORS:
        if operator == "exists":
            return lambda context: get(context) not in (_MISSING, None)
        return lambda context: get(context) in (_MISSING, None)

    values = _values(constraint)
    if operator in STRING_OPERATORS:
        return _compile_string(operator, get, _converted(values, as_string, "a string"))
    if operator == "regex":
        patterns = []
        for index, raw in enumerate(values):
            if not isinstance(raw, str):
                raise ConfigError(f"values.{index}", "must be a string")
            try:
                patterns.append(re.compile(raw))
            except re.error as exc:
                raise ConfigError(f"values.{index}", f"invalid regular expression: {exc}") from None

        def regex(context):
            text = as_string(get(context))
            return text is not None and any(p.search(text) for p in patterns)

        return regex
    if operator in NUMBER_OPERATORS:
        return _compile_ordered(operator, get, _converted(values, as_number, "a number"), as_number)
    if operator in SEMVER_OPERATORS:
        keys = _converted(values, semver_key, "a semantic version")
        ordered = {"semver_eq": "eq", "semver_lt": "lt", "semver_gt": "gt"}[operator]
        return _compile_ordered(ordered, get, keys, semver_key)
    times = _converted(values, timestamp, "an ISO 8601 datetime")
    return _compile_ordered("lt" if operator == "before" else "gt", get, times, timestamp)


def _compile_string(operator: str, get, values: list[str]) -> Predicate:
    if operator in ("eq", "in", "neq", "not_in"):
        members = frozenset(values)
        if operator in ("eq", "in"):
            def is_in(context):
                value = get(context)
                if value.__class__ is str:
                    return value in members
                text = as_string(value)
                return text is not None and text in members

            return is_in

        def not_in(context):
            value = get(context)
            if value.__class__ is str:
                return value not in members
            text = as_string(value)
            return text is not None and text not in members

        return not_in

    needles = tuple(values)
    if operator == "starts_with":
        def starts_with(context):
            text = as_string(get(context))
            return text is not None and text.startswith(needles)

        return starts_with
    if operator == "ends_with":
        def ends_with(context):
            text = as_string(get(context))
            return text is not None and text.endswith(needles)

        return ends_with
    if operator == "contains":
        def contains(context):
            text = as_string(get(context))
            return text is not None and any(n in text for n in needles)

        return contains

    def not_contains(context):
        text = as_string(get(context))
        return text is not None and not any(n in text for n in needles)

    return not_contains


def _compile_ordered(operator: str, get, values: list, convert) -> Predicate:
    """lt/lte/gt/gte/eq against any of ``values``, reduced to one bound at compile time."""
    if operator == "eq":
        members = frozenset(values)

        def equal(context):
            key = convert(get(context))
            return key is not None and key in members

        return equal
    bound = max(values) if operator in ("lt", "lte") else min(values)
    if operator == "lt":
        def lt(context):
            key = convert(get(context))
            return key is not None and key < bound

        return lt
    if operator == "lte":
        def lte(context):
            key = convert(get(context))
            return key is not None and key <= bound

        return lte
    if operator == "gt":
        def gt(context):
            key = convert(get(context))
            return key is not None and key > bound

        return gt

    def gte(context):
        key = convert(get(context))
        return key is not None and key >= bound

    return gte
