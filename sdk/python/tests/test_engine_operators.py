"""Every operator, table-driven: (operator, values, attribute value, expected match)."""

import pytest
from flagstream.errors import ConfigError
from flagstream.operators import compile_constraint

MISSING = object()

CASES = [
    # eq / neq / in / not_in
    ("eq", ["US"], "US", True),
    ("eq", ["US"], "us", False),
    ("eq", ["US", "CA"], "CA", True),
    ("eq", ["5"], 5, True),
    ("eq", [5], "5", True),
    ("eq", ["true"], True, True),
    ("eq", ["1"], 1.0, True),
    ("eq", ["US"], MISSING, False),
    ("eq", ["US"], None, False),
    ("eq", ["US"], {"x": 1}, False),
    ("neq", ["US"], "CA", True),
    ("neq", ["US"], "US", False),
    ("neq", ["US"], MISSING, False),
    ("in", ["US", "CA"], "US", True),
    ("in", ["US", "CA"], "DE", False),
    ("not_in", ["US", "CA"], "DE", True),
    ("not_in", ["US", "CA"], "CA", False),
    ("not_in", ["US"], MISSING, False),
    # contains / not_contains / starts_with / ends_with
    ("contains", ["@acme."], "bob@acme.com", True),
    ("contains", ["@acme.", "@corp."], "bob@corp.io", True),
    ("contains", ["@acme."], "bob@other.com", False),
    ("not_contains", ["@acme."], "bob@other.com", True),
    ("not_contains", ["@acme."], "bob@acme.com", False),
    ("not_contains", ["x"], MISSING, False),
    ("starts_with", ["beta-"], "beta-user", True),
    ("starts_with", ["beta-"], "user-beta", False),
    ("ends_with", [".edu"], "mit.edu", True),
    ("ends_with", [".edu"], "mit.com", False),
    ("starts_with", ["12"], 123, True),
    # regex
    ("regex", [r"^user-\d+$"], "user-42", True),
    ("regex", [r"^user-\d+$"], "user-x", False),
    ("regex", [r"admin"], "superadmin", True),
    ("regex", [r"^4"], 42, True),
    ("regex", ["x"], MISSING, False),
    # numbers
    ("lt", [10], 9, True),
    ("lt", [10], 10, False),
    ("lte", [10], 10, True),
    ("lte", [10], 10.5, False),
    ("gt", [10], 10.5, True),
    ("gt", [10], 10, False),
    ("gte", [10], 10, True),
    ("gte", [10], 9.99, False),
    ("gt", [10], "11", True),
    ("gt", [10], "eleven", False),
    ("gt", [10], True, False),
    ("lt", [1, 5], 3, True),  # any of the values: 3 < 5
    ("gt", [1, 5], 3, True),  # 3 > 1
    ("gt", ["2.5"], 3, True),
    ("lt", [10], MISSING, False),
    # semver
    ("semver_eq", ["1.2.3"], "1.2.3", True),
    ("semver_eq", ["1.2.3"], "v1.2.3", True),
    ("semver_eq", ["1.2.0"], "1.2", True),
    ("semver_eq", ["1.2.3"], "1.2.3+build.5", True),
    ("semver_eq", ["1.2.3"], "1.2.4", False),
    ("semver_lt", ["2.0.0"], "1.10.0", True),
    ("semver_lt", ["2.0.0"], "2.0.0", False),
    ("semver_lt", ["2.0.0"], "2.0.0-rc.1", True),
    ("semver_lt", ["1.0.0-alpha.beta"], "1.0.0-alpha.1", True),
    ("semver_lt", ["1.0.0-alpha.2"], "1.0.0-alpha.10", False),
    ("semver_gt", ["1.9.9"], "1.10.0", True),
    ("semver_gt", ["1.0.0-beta"], "1.0.0-alpha", False),
    ("semver_gt", ["1.0.0"], "not-a-version", False),
    ("semver_gt", ["1.0.0"], MISSING, False),
    # datetimes
    ("before", ["2026-01-01T00:00:00Z"], "2025-12-31T23:59:59Z", True),
    ("before", ["2026-01-01T00:00:00Z"], "2026-01-01T00:00:00Z", False),
    ("before", ["2026-01-01T00:00:00Z"], "2026-01-01T01:00:00+02:00", True),
    ("after", ["2026-01-01T00:00:00Z"], "2026-01-01T00:00:01", True),
    ("after", ["2026-01-01T00:00:00Z"], 1767225601, True),  # epoch seconds
    ("after", ["2026-01-01T00:00:00Z"], 1767225599, False),
    ("after", ["2026-01-01T00:00:00Z"], "yesterday", False),
    ("after", ["2026-01-01T00:00:00Z"], MISSING, False),
    # presence
    ("exists", [], "x", True),
    ("exists", [], "", True),
    ("exists", [], None, False),
    ("exists", [], MISSING, False),
    ("not_exists", [], MISSING, True),
    ("not_exists", [], None, True),
    ("not_exists", [], 0, False),
]


@pytest.mark.parametrize("operator,values,attribute,expected", CASES)
def test_operator__table__matches_as_documented(operator, values, attribute, expected):
    # Given a constraint on attribute "a"
    predicate = compile_constraint({"attribute": "a", "operator": operator, "values": values})
    context = {} if attribute is MISSING else {"a": attribute}
    # When / Then
    assert predicate(context) is expected


def test_segment_match__context_in_any_listed_segment__matches():
    segments = {"beta": lambda c: c.get("beta") is True, "staff": lambda c: c.get("staff") is True}
    predicate = compile_constraint({"operator": "segment_match", "values": ["beta", "staff"]},
                                   segments)
    assert predicate({"staff": True})
    assert predicate({"beta": True})
    assert not predicate({})


def test_attribute__dotted_path__reads_nested_context():
    predicate = compile_constraint({"attribute": "user.plan", "operator": "eq",
                                    "values": ["pro"]})
    assert predicate({"user": {"plan": "pro"}})
    assert predicate({"user.plan": "pro"})
    assert not predicate({"user": "pro"})


@pytest.mark.parametrize("constraint,field", [
    ({"attribute": "a", "operator": "like", "values": ["x"]}, "operator"),
    ({"operator": "eq", "values": ["x"]}, "attribute"),
    ({"attribute": "a", "operator": "eq", "values": "x"}, "values"),
    ({"attribute": "a", "operator": "eq", "values": []}, "values"),
    ({"attribute": "a", "operator": "regex", "values": ["("]}, "values.0"),
    ({"attribute": "a", "operator": "gt", "values": ["ten"]}, "values.0"),
    ({"attribute": "a", "operator": "semver_lt", "values": ["1.x"]}, "values.0"),
    ({"attribute": "a", "operator": "before", "values": ["soon"]}, "values.0"),
    ({"attribute": "a", "operator": "eq", "values": [{"x": 1}]}, "values.0"),
    ({"operator": "segment_match", "values": ["nope"]}, "values.0"),
])
def test_compile__invalid_constraint__names_the_field(constraint, field):
    with pytest.raises(ConfigError) as info:
        compile_constraint(constraint, {})
    assert info.value.field == field
