"""The admin: what staff see, and that their edits are validated, audited and published."""

import json

import pytest
from django.urls import reverse
from django_eventstream.models import Event

from flags.models import AuditLog, Flag, FlagState, SDKKey, Segment
from flags.selectors import sdk_key_authenticate

pytestmark = pytest.mark.django_db

# The state page's read-only inline of scheduled changes posts its (empty) management form.
NO_INLINE_FORMS = {"scheduled_changes-TOTAL_FORMS": 0, "scheduled_changes-INITIAL_FORMS": 0}


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@x.io", "pw")
    client.force_login(user)
    return client


def dev_state(flag):
    return FlagState.objects.get(flag=flag, environment__key="development")


@pytest.mark.parametrize("model", ["tenancy_organization", "tenancy_membership", "flags_project",
                                   "flags_environment", "flags_sdkkey", "flags_flag",
                                   "flags_flagstate", "flags_segment", "flags_auditlog"])
def test_changelist__every_model__renders(staff, color_flag, model):
    assert staff.get(reverse(f"admin:{model}_changelist")).status_code == 200


def test_flag_page__shows_each_environment_state_rules_and_audit(staff, color_flag):
    from flags import services
    from tests.conftest import TEST_ACTOR

    services.flag_state_update(state=dev_state(color_flag), enabled=True, actor=TEST_ACTOR,
                               rules=[{"constraints": [{"attribute": "country", "operator": "in",
                                                        "values": ["US", "CA"]}],
                                       "variant": "green"}])
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert "development" in page and "production" in page
    assert "country is one of US, CA" in page and "<b>green</b>" in page
    assert "flag_enabled" in page or "flag_updated" in page  # the audit trail
    listing = staff.get(reverse("admin:flags_flag_changelist")).content.decode()
    assert "development: <b>ON</b> v2" in listing and "production: <b>off</b> v1" in listing


def test_flag_changelist__filter_by_tag_and_search(staff, color_flag, bool_flag):
    url = reverse("admin:flags_flag_changelist")
    by_tag = staff.get(url, {"tags__name": "ui"}).content.decode()
    assert "button-color" in by_tag and "new-checkout" not in by_tag
    found = staff.get(url, {"q": "checkout"}).content.decode()
    assert "new-checkout" in found and "button-color" not in found


def test_flag_toggle_action__turns_on_in_that_environment_only(staff, color_flag):
    response = staff.post(reverse("admin:flags_flag_changelist"),
                          {"action": "turn_on_development", "_selected_action": [color_flag.pk]})
    assert response.status_code == 302
    assert dev_state(color_flag).enabled is True
    assert FlagState.objects.get(flag=color_flag, environment__key="production").enabled is False
    entry = AuditLog.objects.filter(flag=color_flag, action="flag_enabled").get()
    assert entry.source == "admin" and entry.actor_label == "staff"


def test_flagstate_edit__valid__saved_through_service_audited_and_published(
        staff, color_flag, django_capture_on_commit_callbacks):
    state = dev_state(color_flag)
    url = reverse("admin:flags_flagstate_change", args=[state.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url, {
            "enabled": "on", "off_variant": "red", "loaded_version": state.version,
            "rules": json.dumps([{"constraints": [{"attribute": "plan", "operator": "eq",
                                                   "values": ["pro"]}], "variant": "blue"}]),
            "default_rule": json.dumps({"variant": "green"}), "prerequisites": "[]",
            **NO_INLINE_FORMS})
    assert response.status_code == 302, response.content.decode()[:2000]
    state.refresh_from_db()
    assert state.enabled and state.version == 2 and state.default_rule == {"variant": "green"}
    assert AuditLog.objects.filter(flag=color_flag, source="admin").exists()
    assert Event.objects.filter(type="flag_updated").exists()


def test_flagstate_edit__invalid_weights__form_error_and_nothing_saved(staff, color_flag):
    state = dev_state(color_flag)
    url = reverse("admin:flags_flagstate_change", args=[state.pk])
    response = staff.post(url, {
        "off_variant": "red", "loaded_version": state.version, "rules": "[]",
        "prerequisites": "[]",
        "default_rule": json.dumps({"distribution": [{"variant": "red", "weight": 70},
                                                     {"variant": "blue", "weight": 20}]}),
        **NO_INLINE_FORMS})
    assert response.status_code == 200
    assert "weights must sum to 100" in response.content.decode()
    state.refresh_from_db()
    assert state.version == 1


def test_flagstate_edit__someone_changed_it_meanwhile__form_error(staff, color_flag):
    state = dev_state(color_flag)
    url = reverse("admin:flags_flagstate_change", args=[state.pk])
    FlagState.objects.filter(pk=state.pk).update(version=5)
    response = staff.post(url, {"enabled": "on", "off_variant": "red", "loaded_version": 1,
                                "rules": "[]", "prerequisites": "[]",
                                "default_rule": json.dumps({"variant": "red"}),
                                **NO_INLINE_FORMS})
    assert response.status_code == 200
    assert "Someone else changed this state" in response.content.decode()
    state.refresh_from_db()
    assert state.enabled is False


def test_flag_add__through_service_with_states_and_audit(staff, project, environments):
    response = staff.post(reverse("admin:flags_flag_add"), {
        "project": project.pk, "key": "dark-mode", "name": "Dark mode", "kind": "boolean",
        "variants": "", "tag_names": "ui, theme", "description": "",
        "states-TOTAL_FORMS": 0, "states-INITIAL_FORMS": 0,
        "audit_entries-TOTAL_FORMS": 0, "audit_entries-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()[:3000]
    flag = Flag.objects.get(key="dark-mode")
    assert sorted(t.name for t in flag.tags.all()) == ["theme", "ui"]
    assert flag.states.count() == 2
    assert AuditLog.objects.filter(flag=flag, action="flag_created", source="admin").exists()


def test_flag_add__bad_variants__error_on_the_field(staff, project, environments):
    response = staff.post(reverse("admin:flags_flag_add"), {
        "project": project.pk, "key": "size", "name": "Size", "kind": "number",
        "variants": json.dumps([{"key": "s", "value": "small"}]), "tag_names": "",
        "states-TOTAL_FORMS": 0, "states-INITIAL_FORMS": 0,
        "audit_entries-TOTAL_FORMS": 0, "audit_entries-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert "must be a number value" in response.content.decode()
    assert not Flag.objects.filter(key="size").exists()


def test_segment_add__through_service(staff, project):
    response = staff.post(reverse("admin:flags_segment_add"), {
        "project": project.pk, "key": "staff", "name": "Staff", "description": "",
        "constraints": json.dumps([{"attribute": "email", "operator": "ends_with",
                                    "values": ["@acme.com"]}])})
    assert response.status_code == 302
    assert Segment.objects.filter(key="staff").exists()
    assert AuditLog.objects.filter(action="segment_created", source="admin").exists()


def test_sdk_key_add__secret_shown_once_in_a_message(staff, development):
    response = staff.post(reverse("admin:flags_sdkkey_add"),
                          {"environment": development.pk, "kind": "server", "name": "backend"},
                          follow=True)
    text = response.content.decode()
    raw = text.split("New server key for ")[1].split(": ")[1].split(" ")[0]
    assert raw.startswith("srv-")
    assert sdk_key_authenticate(raw) is not None


def test_sdk_key_revoke_action__key_stops_working(staff, development):
    from flags import services
    from tests.conftest import TEST_ACTOR

    sdk_key, raw = services.sdk_key_create(environment=development, kind="client",
                                           actor=TEST_ACTOR)
    staff.post(reverse("admin:flags_sdkkey_changelist"),
               {"action": "revoke_keys", "_selected_action": [sdk_key.pk]})
    assert sdk_key_authenticate(raw) is None
    assert SDKKey.objects.get(pk=sdk_key.pk).revoked_at is not None


def test_staff_without_superuser__sees_only_own_organizations(client, color_flag, organization,
                                                               django_user_model):
    from django.contrib.auth.models import Permission

    from flags import services
    from tenancy.models import Membership
    from tests.conftest import TEST_ACTOR
    from tests.factories import OrganizationFactory

    other = OrganizationFactory(slug="globex")
    other_project = services.project_create(organization=other, key="secret", actor=TEST_ACTOR)
    services.environment_create(project=other_project, key="prod", actor=TEST_ACTOR)
    services.flag_create(project=other_project, key="globex-only", actor=TEST_ACTOR)
    staff_user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="flags"))
    Membership.objects.create(user=staff_user, organization=organization, role="admin")
    client.force_login(staff_user)

    flags_page = client.get(reverse("admin:flags_flag_changelist")).content.decode()
    assert "button-color" in flags_page and "globex-only" not in flags_page
    other_flag = Flag.objects.get(key="globex-only")
    assert client.get(reverse("admin:flags_flag_change", args=[other_flag.pk])).status_code == 302
    add_form = client.get(reverse("admin:flags_flag_add")).content.decode()
    assert "acme/demo" in add_form and "globex/secret" not in add_form
