"""Validation of flags, states and segments, naming the offending field.

Structural checks come from the shared engine (a state that compiles is one every SDK can
evaluate); the server adds what only it knows: other flags, segments and prerequisite cycles.
Every function raises ``django.core.exceptions.ValidationError`` with a dict of field paths.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from django.core.exceptions import ValidationError
from flagstream.errors import ConfigError
from flagstream.evaluation import CompiledFlag, compile_segment, value_matches_kind

from .models import KEY_VALIDATOR, Flag, FlagKind, FlagState, Segment

RULE_FIELDS = {"id", "description", "constraints", "variant", "distribution"}
CONSTRAINT_FIELDS = {"attribute", "operator", "values"}
DISTRIBUTION_FIELDS = {"variant", "weight"}
DEFAULT_RULE_FIELDS = {"variant", "distribution"}
PREREQUISITE_FIELDS = {"flag", "variant"}
VARIANT_FIELDS = {"key", "value", "name", "description"}
MAX_RULES = 200  # per flag state: documented in docs/evaluation.md


def fail(field: str, message: str):
    raise ValidationError({field: [message]})


def _reject_unknown(obj: Any, allowed: set[str], path: str) -> None:
    if isinstance(obj, dict):
        for name in obj:
            if name not in allowed:
                fail(f"{path}.{name}" if path else name, "unknown field")


def validate_key(value: Any, field: str = "key") -> str:
    if not isinstance(value, str):
        fail(field, "must be a string")
    try:
        KEY_VALIDATOR(value)
    except ValidationError as exc:
        fail(field, exc.messages[0])
    return value


def default_variants(kind: str) -> list[dict]:
    if kind == FlagKind.BOOLEAN:
        return [{"key": "true", "value": True}, {"key": "false", "value": False}]
    return []


def normalize_variants(kind: str, variants: Any) -> list[dict]:
    """Check ``variants`` for a flag of ``kind``; booleans default to true/false."""
    if kind not in FlagKind.values:
        fail("kind", f"must be one of {', '.join(FlagKind.values)}")
    if variants is None:
        variants = default_variants(kind)
    if not isinstance(variants, list) or not variants:
        fail("variants", "must be a non-empty list of {key, value}")
    seen = set()
    out = []
    for index, variant in enumerate(variants):
        path = f"variants.{index}"
        if not isinstance(variant, dict):
            fail(path, "must be an object with key and value")
        _reject_unknown(variant, VARIANT_FIELDS, path)
        key = validate_key(variant.get("key"), f"{path}.key")
        if key in seen:
            fail(f"{path}.key", f"duplicate variant {key!r}")
        seen.add(key)
        if "value" not in variant:
            fail(f"{path}.value", "is required")
        if not value_matches_kind(kind, variant["value"]):
            fail(f"{path}.value", f"must be a {kind} value for a {kind} flag")
        out.append({k: variant[k] for k in ("key", "value", "name", "description") if k in variant})
    return out


def normalize_tags(tags: Any) -> list[str]:
    if not isinstance(tags, (list, tuple)):
        fail("tags", "must be a list of strings")
    out = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 100:
            fail(f"tags.{index}", "must be a non-empty string of at most 100 characters")
        if tag.strip() not in out:
            out.append(tag.strip())
    return out


def normalize_rules(rules: Any) -> list[dict]:
    """Shape checks the engine does not do (unknown fields, the limit) and stable rule ids."""
    if not isinstance(rules, list):
        fail("rules", "must be a list")
    if len(rules) > MAX_RULES:
        fail("rules", f"at most {MAX_RULES} rules per flag and environment (got {len(rules)}); "
                      "put shared conditions in a segment")
    out = []
    for index, rule in enumerate(rules):
        path = f"rules.{index}"
        if not isinstance(rule, dict):
            fail(path, "must be an object")
        _reject_unknown(rule, RULE_FIELDS, path)
        constraints = rule.get("constraints", [])
        if isinstance(constraints, list):
            for c_index, constraint in enumerate(constraints):
                _reject_unknown(constraint, CONSTRAINT_FIELDS, f"{path}.constraints.{c_index}")
        for d_index, part in enumerate(rule.get("distribution") or []):
            _reject_unknown(part, DISTRIBUTION_FIELDS, f"{path}.distribution.{d_index}")
        rule = dict(rule)
        rule.setdefault("id", uuid.uuid4().hex[:8])
        rule.setdefault("constraints", [])
        out.append(rule)
    return out


def validate_default_rule(default_rule: Any) -> dict:
    if not isinstance(default_rule, dict):
        fail("defaultRule", "must be an object with a variant or a distribution")
    _reject_unknown(default_rule, DEFAULT_RULE_FIELDS, "defaultRule")
    for d_index, part in enumerate(default_rule.get("distribution") or []):
        _reject_unknown(part, DISTRIBUTION_FIELDS, f"defaultRule.distribution.{d_index}")
    return default_rule


def validate_prerequisites(*, flag: Flag, environment, prerequisites: Any) -> list[dict]:
    """Each prerequisite names another flag of the project and one of its variants; no cycles."""
    if not isinstance(prerequisites, list):
        fail("prerequisites", "must be a list")
    for index, prerequisite in enumerate(prerequisites):
        path = f"prerequisites.{index}"
        if not isinstance(prerequisite, dict):
            fail(path, "must be an object with flag and variant")
        _reject_unknown(prerequisite, PREREQUISITE_FIELDS, path)
        other_key = prerequisite.get("flag")
        if other_key == flag.key:
            fail(f"{path}.flag", "a flag cannot be its own prerequisite")
        other = Flag.objects.filter(project_id=flag.project_id, key=other_key).first()
        if other is None:
            fail(f"{path}.flag", f"unknown flag {other_key!r}")
        if prerequisite.get("variant") not in other.variant_values():
            fail(f"{path}.variant", f"flag {other_key!r} has no variant "
                                    f"{prerequisite.get('variant')!r}")
    # A cycle: following prerequisites from any of ours leads back to this flag.
    graph = {
        key: [p.get("flag") for p in prereqs or []]
        for key, prereqs in FlagState.objects.filter(environment=environment)
        .exclude(flag=flag).values_list("flag__key", "prerequisites")
    }
    graph[flag.key] = [p["flag"] for p in prerequisites]
    for index, prerequisite in enumerate(prerequisites):
        if _reaches(graph, prerequisite["flag"], flag.key):
            fail(f"prerequisites.{index}.flag",
                 f"prerequisite cycle: {prerequisite['flag']!r} depends on {flag.key!r}")
    return prerequisites


def _reaches(graph: dict, start: str, target: str) -> bool:
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node in seen:
            continue
        seen.add(node)
        stack.extend(graph.get(node, []))
    return False


def project_segment_predicates(project_id: int, *, replace: dict | None = None) -> dict:
    """Compiled segments of a project, for compiling rules that match them."""
    predicates = {}
    for key, constraints in Segment.objects.filter(project_id=project_id).values_list(
            "key", "constraints"):
        predicates[key] = compile_segment(key, {"constraints": constraints})
    for key, constraints in (replace or {}).items():
        predicates[key] = compile_segment(key, {"constraints": constraints})
    return predicates


def segment_predicates_for(document: dict, project_id: int) -> dict:
    """The compiled segments a state document needs: none (and no query) unless a rule
    matches a segment."""
    for rule in document.get("rules") or []:
        for constraint in rule.get("constraints") or []:
            if constraint.get("operator") == "segment_match":
                return project_segment_predicates(project_id)
    return {}


def validate_state_document(document: dict, segments: dict) -> None:
    """Compile the document with the shared engine; a ConfigError names the field."""
    try:
        CompiledFlag(document["key"], document, segments)
    except ConfigError as exc:
        fail(exc.field or "state", exc.message)


def validate_segment_constraints(constraints: Any) -> list:
    if not isinstance(constraints, list):
        fail("constraints", "must be a list")
    for index, constraint in enumerate(constraints):
        _reject_unknown(constraint, CONSTRAINT_FIELDS, f"constraints.{index}")
    try:
        compile_segment("segment", {"constraints": constraints})
    except ConfigError as exc:
        fail(exc.field or "constraints", exc.message)
    return constraints


def referenced_variants(document: dict) -> Iterable[tuple[str, str]]:
    """(field, variant) for every variant a state document serves."""
    yield "offVariant", document.get("offVariant")
    for index, rule in enumerate(document.get("rules") or []):
        if rule.get("variant") is not None:
            yield f"rules.{index}.variant", rule["variant"]
        for d_index, part in enumerate(rule.get("distribution") or []):
            yield f"rules.{index}.distribution.{d_index}.variant", part.get("variant")
    default_rule = document.get("defaultRule") or {}
    if default_rule.get("variant") is not None:
        yield "defaultRule.variant", default_rule["variant"]
    for d_index, part in enumerate(default_rule.get("distribution") or []):
        yield f"defaultRule.distribution.{d_index}.variant", part.get("variant")
