"""Tenancy admin: every write goes through the services."""

import pytest
from django.urls import reverse

from flags.models import AuditLog
from tenancy.models import Membership, Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "s@x.io", "pw"))
    return client


def test_organization_add__with_a_member__created_with_membership(staff, django_user_model):
    # Given a user to add as an editor
    user = django_user_model.objects.create_user("dana")
    # When staff add an organization with that member on its page
    response = staff.post(reverse("admin:tenancy_organization_add"), {
        "slug": "initech", "name": "Initech",
        "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
        "memberships-0-user": str(user.pk), "memberships-0-role": "editor"})
    # Then both exist
    assert response.status_code == 302
    organization = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=organization).role == "editor"


def test_organization_rename__empty_name__form_error_and_unchanged(staff, organization):
    response = staff.post(reverse("admin:tenancy_organization_change", args=[organization.pk]), {
        "name": " ", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.name == "ACME"


def test_membership_delete__from_admin__removed(staff, viewer, organization):
    membership = Membership.objects.get(user=viewer)
    staff.post(reverse("admin:tenancy_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert not Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize("model,field,value", [("project", "name", "Renamed"),
                                               ("environment", "name", "Dev")])
def test_rename__project_or_environment__audited_as_admin(staff, development, model, field, value):
    # Given a project and its environment; When staff rename one in the admin
    obj = development if model == "environment" else development.project
    response = staff.post(reverse(f"admin:flags_{model}_change", args=[obj.pk]), {field: value})
    # Then it is renamed and the audit log says who, from where, before and after
    assert response.status_code == 302
    obj.refresh_from_db()
    assert obj.name == value
    entry = AuditLog.objects.get(action=f"{model}_renamed")
    assert (entry.source, entry.actor_label or entry.actor.username) == ("admin", "staff")
    assert entry.after == {"name": value}


def test_sdk_key_rename__in_admin__audited(staff, development, actor):
    from flags import services

    sdk_key, _ = services.sdk_key_create(environment=development, kind="server", actor=actor)
    response = staff.post(reverse("admin:flags_sdkkey_change", args=[sdk_key.pk]),
                          {"name": "billing service"})
    assert response.status_code == 302
    sdk_key.refresh_from_db()
    assert sdk_key.name == "billing service"
    assert AuditLog.objects.filter(action="sdk_key_renamed", source="admin").count() == 1


def test_organization_streaming_switch__in_admin__off_then_on(staff, organization):
    url = reverse("admin:tenancy_organization_change", args=[organization.pk])
    form = {"name": organization.name, "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0"}
    assert staff.post(url, form).status_code == 302  # the box left unticked: off
    organization.refresh_from_db()
    assert organization.streaming_enabled is False
    assert staff.post(url, {**form, "streaming_enabled": "on"}).status_code == 302
    organization.refresh_from_db()
    assert organization.streaming_enabled is True
