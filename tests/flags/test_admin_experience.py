"""What staff meet in the admin (issue 15, items 11 and 12): a readable audit trail, the
product's name, and no Celery tables for staff who are not superusers."""

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
        ("rules", [], [{"variant": "green"}]), ("tags", None, ["ui"])]
    assert audit_diff(None, {"key": "f"}) == [("key", None, "f")]
    assert audit_diff({"a": 1}, {"a": 1}) == []


def test_flag_page__audit_shows_what_changed_who_and_a_link_to_all(staff, color_flag, actor):
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    services.flag_state_update(state=state, enabled=True, actor=actor)
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert "<b>enabled</b>: <code>false</code> → <code>true</code>" in page
    assert "tests" in page  # who: the actor's label
    assert "<summary>JSON</summary>" in page
    assert f"?flag__id__exact={color_flag.pk}" in page
    listing = staff.get(reverse("admin:flags_auditlog_changelist"),
                        {"flag__id__exact": color_flag.pk})
    assert listing.status_code == 200
    assert "<b>enabled</b>" in listing.content.decode()


def test_flag_page__long_history__latest_20_on_the_page(staff, color_flag, actor):
    state = FlagState.objects.get(flag=color_flag, environment__key="development")
    for n in range(25):
        services.flag_state_update(state=state, enabled=n % 2 == 0, actor=actor)
    page = staff.get(reverse("admin:flags_flag_change", args=[color_flag.pk])).content.decode()
    assert page.count("<b>enabled</b>") == 20


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
