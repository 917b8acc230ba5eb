"""The fuzz's own check (tests/fuzz/hooks.py) can fail: a refused write that changed a row is
reported, one that changed nothing is not."""

from types import SimpleNamespace

import pytest

from tests.fuzz import hooks

pytestmark = pytest.mark.django_db(transaction=True)


def case(method="PATCH"):
    return SimpleNamespace(method=method, formatted_path="/api/v1/projects/demo/")


def test_refused_write_that_changed_a_row__reported(organization):
    refused = SimpleNamespace(status_code=400)
    patch = case()
    hooks.before_call(None, patch, {})
    organization.name = "changed behind the refusal"
    organization.save()
    with pytest.raises(AssertionError, match="organization"):
        hooks.rejected_write_changes_nothing(None, refused, patch)


def test_refused_write_that_changed_nothing__passes(organization):
    patch = case()
    hooks.before_call(None, patch, {})
    assert hooks.rejected_write_changes_nothing(None, SimpleNamespace(status_code=403),
                                                patch) is None
    accepted = case("POST")  # a write that succeeded may change anything
    hooks.before_call(None, accepted, {})
    organization.save()
    assert hooks.rejected_write_changes_nothing(None, SimpleNamespace(status_code=201),
                                                accepted) is None
