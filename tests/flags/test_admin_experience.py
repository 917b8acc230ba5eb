"""What staff meet in the admin (issue 15, items 11 and 12): a readable audit trail, the
product's name, and no Celery tables for staff who are not superusers."""

import html
import json
import re

import pytest
from django.urls import reverse

from flags import services
from flags.audit import audit_diff
from flags.models import FlagState
from tenancy.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "s@x.io", "pw"))
    return client


def test_audit_diff__changed_fields_only__dotted_paths():
    before = {"enabled": False, "offVariant": "red", "defaultRule": {"variant": "red"},
              "rules": []}
    after = {"enabled": True, "offVariant": "red", "defaultRule": {"variant": "blue"},
             "rules": [{"variant": "green"}], "tags": ["ui"]}
    assert audit_diff(before, after) == [
        ("enabled", False, True), ("defaultRule.variant", "red", "blue"),
        ("rules.0", None, {"variant": "green"}), ("tags", None, ["ui"])]
    # rules item by item: one changed variant is one line; lists of plain values whole
    assert audit_diff({"rules": [{"id": "a", "variant": "red"}, {"id": "b", "variant": "x"}],
                       "tags": ["a"]},
                      {"rules": [{"id": "a", "variant": "blue"}, {"id": "b", "variant": "x"}],
                       "tags": ["a", "b"]}) == [
        ("rules.0.variant", "red", "blue"), ("tags", ["a"], ["a", "b"])]
    assert audit_diff(None, {"key": "f"}) == [("key", None, "f")]
    assert audit_diff({"a": 1}, {"a": 1}) == []


def test_flag_page__audit_shows_what_changed_who_and_a_link_to_all(staff, color_flag, actor):
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    services.flag_state_update(state=state, enabled=True, actor=actor)
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert "<b>Enabled</b>: <code>false</code> → <code>true</code>" in page
    assert "tests" in page  # who: the actor's label
    assert "<summary>JSON</summary>" in page
    assert f"?flag__id__exact={color_flag.pk}" in page
    listing = staff.get(reverse("admin:flags_auditlog_changelist"),
                        {"flag__id__exact": color_flag.pk})
    assert listing.status_code == 200
    assert "<b>Enabled</b>" in listing.content.decode()


def test_flag_page__long_history__latest_20_on_the_page(staff, color_flag, actor):
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    for n in range(25):
        services.flag_state_update(state=state, enabled=n % 2 == 0, actor=actor)
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert page.count("<b>Enabled</b>") == 20


def test_flag_list__archived_shown_as_words_not_icons(staff, color_flag):
    page = staff.get(reverse("admin:flags_flag_changelist")).content.decode()
    assert ">live<" in page
    assert "icon-no.svg" not in page


def test_admin__named_flagstream(staff):
    page = staff.get(reverse("admin:index")).content.decode()
    assert "<title>Flags, tenants and keys | Flagstream</title>" in page


def test_admin_index__celery_tables_for_superusers_only(client, django_user_model, organization):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(
        content_type__app_label__in=["django_celery_beat", "flags"]))
    Membership.objects.create(user=staff, organization=organization, role="admin")
    client.force_login(staff)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Periodic tasks" not in page and "Feature flags" in page


# --- the targeting editor's server side (item 10; the browser test drives the script) -------

def _editor_options(page: str, name: str) -> dict:
    match = re.search(rf'<textarea name="{name}"[^>]*data-options="([^"]*)"', page)
    assert match, f"no targeting editor for {name}"
    return json.loads(html.unescape(match.group(1)))


def test_state_page__editors_know_variants_segments_flags_and_all_21_operators(
        staff, color_flag, bool_flag, project, actor):
    from flagstream.operators import OPERATORS

    services.segment_create(project=project, key="beta", name="Beta", actor=actor,
                            constraints=[{"attribute": "plan", "operator": "eq",
                                          "values": ["pro"]}])
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    page = staff.get(reverse("admin:flags_flagstate_change", args=[state.pk])).content.decode()
    assert "flags/targeting.js" in page
    rules = _editor_options(page, "rules")
    assert rules["variants"] == ["red", "green", "blue"]
    assert rules["segments"] == ["beta"]
    assert "plan" in rules["attributes"]
    operators = {op for _, _, group in rules["operators"] for op, _ in group}
    assert operators == set(OPERATORS) and len(operators) == 21
    assert _editor_options(page, "default_rule")["variants"] == ["red", "green", "blue"]
    assert _editor_options(page, "prerequisites")["flags"] == {"new-checkout": ["true", "false"]}
    # the off variant is picked from the flag's variants
    assert '<select name="off_variant"' in page and '<option value="blue">' in page


def test_state_page__service_error__named_in_words_and_handed_to_the_editor(
        staff, color_flag):
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    url = reverse("admin:flags_flagstate_change", args=[state.pk])
    rules = [{"constraints": [], "variant": "red"},
             {"constraints": [], "distribution": [{"variant": "red", "weight": 30},
                                                  {"variant": "blue", "weight": 60}]}]
    response = staff.post(url, {"enabled": "on", "off_variant": "red",
                                "rules": json.dumps(rules),
                                "default_rule": json.dumps({"variant": "red"}),
                                "prerequisites": "[]", "loaded_version": state.version})
    page = response.content.decode()
    assert response.status_code == 200  # the form again, not a redirect
    assert "Rule 2 › split: weights must sum to 100, not 90" in page
    errors = json.loads(html.unescape(
        re.search(r'name="rules"[^>]*data-errors="([^"]*)"', page).group(1)))
    assert errors == [{"path": "rules.1.distribution",
                       "message": "weights must sum to 100, not 90"}]
    state.refresh_from_db()
    assert state.rules == [] and state.version == 1  # nothing written


def test_describe_path__api_paths_in_words():
    from flags.targeting_editor import describe_path

    assert describe_path("rules.1.distribution.0.weight") == "Rule 2 › split 1 › weight"
    assert describe_path("rules.0.constraints.2.values.0") == "Rule 1 › condition 3 › value 1"
    assert describe_path("defaultRule.distribution") == "Default rule › split"
    assert describe_path("prerequisites.0.flag") == "Prerequisite 1 › flag"
    assert describe_path("variants") == "Variants"


def test_flag_and_segment_pages__variants_and_conditions_editors(staff, color_flag, project,
                                                                  actor):
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert _editor_options(page, "variants")["kind"] == "string"
    add_page = staff.get(reverse("admin:flags_flag_add")).content.decode()
    assert _editor_options(add_page, "variants")["kind"] is None  # the script reads the menu
    segment = services.segment_create(project=project, key="beta", name="Beta", actor=actor,
                                      constraints=[])
    page = staff.get(reverse("admin:flags_segment_change", args=[segment.pk])).content.decode()
    assert 'data-targeting="constraints"' in page
