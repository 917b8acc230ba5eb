"""Reasons, error codes, prerequisites and splits of the shared evaluation engine."""

import pytest
from flagstream import (
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
    Evaluator,
)
from flagstream.bucketing import bucket


def flag(**overrides):
    base = {"kind": "string", "version": 3, "enabled": True, "salt": "s",
            "variants": {"red": "red", "green": "green", "blue": "blue"},
            "offVariant": "red", "rules": [], "defaultRule": {"variant": "blue"},
            "prerequisites": []}
    return {**base, **overrides}


def evaluator(flags, segments=None):
    return Evaluator({"flags": flags, "segments": segments or {}})


NORTH_AMERICA = {"constraints": [{"attribute": "country", "operator": "in",
                                  "values": ["US", "CA"]}], "variant": "green"}
HALF_HALF = {"distribution": [{"variant": "red", "weight": 50}, {"variant": "green", "weight": 50}]}


def test_evaluate__on_without_rules__static():
    result = evaluator({"f": flag()}).evaluate("f", {"targetingKey": "u"})
    assert (result.value, result.variant, result.reason, result.version) == ("blue", "blue", STATIC, 3)


def test_evaluate__off__serves_off_variant_disabled():
    result = evaluator({"f": flag(enabled=False)}).evaluate("f", {})
    assert (result.value, result.reason) == ("red", DISABLED)


def test_evaluate__rule_matches__targeting_match():
    ev = evaluator({"f": flag(rules=[NORTH_AMERICA])})
    assert ev.evaluate("f", {"country": "CA"}).reason == TARGETING_MATCH
    assert ev.evaluate("f", {"country": "CA"}).value == "green"
    no_match = ev.evaluate("f", {"country": "DE"})
    assert (no_match.value, no_match.reason) == ("blue", DEFAULT)


def test_evaluate__rules_are_ordered__first_match_wins():
    rules = [{"constraints": [{"attribute": "plan", "operator": "eq", "values": ["pro"]}],
              "variant": "red"}, NORTH_AMERICA]
    ev = evaluator({"f": flag(rules=rules)})
    assert ev.evaluate("f", {"plan": "pro", "country": "US"}).variant == "red"
    assert ev.evaluate("f", {"plan": "free", "country": "US"}).variant == "green"


def test_evaluate__all_constraints_of_a_rule_must_hold():
    rule = {"constraints": [{"attribute": "country", "operator": "eq", "values": ["US"]},
                            {"attribute": "age", "operator": "gte", "values": [18]}],
            "variant": "green"}
    ev = evaluator({"f": flag(rules=[rule])})
    assert ev.evaluate("f", {"country": "US", "age": 20}).variant == "green"
    assert ev.evaluate("f", {"country": "US", "age": 17}).variant == "blue"


def test_evaluate__split__follows_the_documented_bucket():
    ev = evaluator({"f": flag(defaultRule=HALF_HALF)})
    for i in range(200):
        key = f"user-{i}"
        expected = "red" if bucket("f", "s", key) < 50_000 else "green"
        result = ev.evaluate("f", {"targetingKey": key})
        assert (result.variant, result.reason) == (expected, SPLIT)


def test_evaluate__split__same_key_same_variant_every_time():
    ev = evaluator({"f": flag(defaultRule=HALF_HALF)})
    first = [ev.evaluate("f", {"targetingKey": f"k{i}"}).variant for i in range(500)]
    again = [Evaluator(ev.config).evaluate("f", {"targetingKey": f"k{i}"}).variant
             for i in range(500)]
    assert first == again
    assert 200 < first.count("red") < 300


def test_evaluate__split_in_a_rule__targeting_match_reason_is_split():
    rule = {**NORTH_AMERICA, "variant": None, **HALF_HALF}
    result = evaluator({"f": flag(rules=[rule])}).evaluate("f", {"country": "US",
                                                                 "targetingKey": "x"})
    assert result.reason == SPLIT


def test_evaluate__split_without_targeting_key__error_targeting_key_missing():
    result = evaluator({"f": flag(defaultRule=HALF_HALF)}).evaluate("f", {"country": "US"})
    assert (result.reason, result.error_code, result.value) == (ERROR, TARGETING_KEY_MISSING, None)


def test_evaluate__no_split__targeting_key_not_needed():
    result = evaluator({"f": flag(rules=[NORTH_AMERICA])}).evaluate("f", {"country": "US"})
    assert result.error_code is None


def test_evaluate__unknown_flag__flag_not_found():
    result = evaluator({}).evaluate("nope", {})
    assert (result.reason, result.error_code) == (ERROR, FLAG_NOT_FOUND)


def test_evaluate__expected_kind_differs__type_mismatch():
    result = evaluator({"f": flag()}).evaluate("f", {}, expected_kind="boolean")
    assert (result.reason, result.error_code) == (ERROR, TYPE_MISMATCH)


@pytest.mark.parametrize("context", ["a string", ["list"], 42])
def test_evaluate__context_not_an_object__parse_error(context):
    assert evaluator({"f": flag()}).evaluate("f", context).error_code == PARSE_ERROR


def test_evaluate__broken_flag__parse_error_and_others_still_work():
    ev = evaluator({"bad": flag(defaultRule={"variant": "purple"}), "good": flag()})
    assert ev.evaluate("bad", {}).error_code == PARSE_ERROR
    assert ev.evaluate("good", {}).value == "blue"


def test_evaluate__prerequisite_served__evaluates_normally():
    parent = flag(kind="boolean", variants={"true": True, "false": False}, offVariant="false",
                  defaultRule={"variant": "true"})
    child = flag(prerequisites=[{"flag": "parent", "variant": "true"}])
    ev = evaluator({"parent": parent, "child": child})
    assert ev.evaluate("child", {}).value == "blue"


def test_evaluate__prerequisite_not_served__off_variant_disabled():
    parent = flag(kind="boolean", variants={"true": True, "false": False}, offVariant="false",
                  defaultRule={"variant": "true"}, enabled=False)
    child = flag(prerequisites=[{"flag": "parent", "variant": "true"}])
    result = evaluator({"parent": parent, "child": child}).evaluate("child", {})
    assert (result.value, result.reason) == ("red", DISABLED)


def test_evaluate__prerequisite_cycle__does_not_recurse_forever():
    a = flag(prerequisites=[{"flag": "b", "variant": "blue"}])
    b = flag(prerequisites=[{"flag": "a", "variant": "blue"}])
    assert evaluator({"a": a, "b": b}).evaluate("a", {}).reason == DISABLED


def test_evaluate__segment_rule__matches_members():
    segments = {"staff": {"constraints": [{"attribute": "email", "operator": "ends_with",
                                           "values": ["@acme.com"]}]}}
    rule = {"constraints": [{"operator": "segment_match", "values": ["staff"]}],
            "variant": "green"}
    ev = evaluator({"f": flag(rules=[rule])}, segments)
    assert ev.evaluate("f", {"email": "a@acme.com"}).variant == "green"
    assert ev.evaluate("f", {"email": "a@b.com"}).variant == "blue"


@pytest.mark.parametrize("kind,variants", [
    ("boolean", {"on": True, "off": False}),
    ("number", {"low": 1, "high": 2.5}),
    ("json", {"a": {"x": 1}, "b": [1, 2]}),
])
def test_evaluate__typed_variants__values_keep_their_type(kind, variants):
    first = next(iter(variants))
    ev = evaluator({"f": flag(kind=kind, variants=variants, offVariant=first,
                              defaultRule={"variant": first})})
    assert ev.evaluate("f", {}, expected_kind=kind).value == variants[first]


@pytest.mark.parametrize("overrides,field", [
    ({"kind": "date"}, "kind"),
    ({"variants": {"red": 1}}, "variants.red"),
    ({"offVariant": "purple"}, "offVariant"),
    ({"defaultRule": {}}, "defaultRule"),
    ({"defaultRule": {"variant": "red", "distribution": []}}, "defaultRule"),
    ({"defaultRule": {"distribution": [{"variant": "red", "weight": 60},
                                       {"variant": "blue", "weight": 30}]}},
     "defaultRule.distribution"),
    ({"defaultRule": {"distribution": [{"variant": "red", "weight": 100.0001}]}},
     "defaultRule.distribution.0.weight"),
    ({"rules": [{"constraints": [], "variant": "nope"}]}, "rules.0.variant"),
    ({"rules": [{"constraints": [{"attribute": "a", "operator": "x", "values": []}],
                 "variant": "red"}]}, "rules.0.constraints.0.operator"),
])
def test_compile__invalid_flag__parse_error_names_field(overrides, field):
    from flagstream.errors import ConfigError
    from flagstream.evaluation import CompiledFlag

    with pytest.raises(ConfigError) as info:
        CompiledFlag("f", flag(**overrides), {})
    assert info.value.field == field


def test_result__to_dict__camel_case_for_the_api():
    data = evaluator({}).evaluate("nope", {}).to_dict()
    assert data["errorCode"] == FLAG_NOT_FOUND and data["value"] is None
