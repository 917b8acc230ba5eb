"""Organizations and memberships moved from the flags app to tenancy without losing a row."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("flags", "0002_scheduled_changes"), ("tenancy", None)]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_move_to_tenancy__database_with_demo_data__every_row_and_permission_kept():
    # Given a database as it was before tenancy had an app: the demo's organization, a staff
    # member with a role, a project and an audit entry, and permissions granted on the models
    from django.contrib.auth.models import Permission, User
    from django.contrib.contenttypes.models import ContentType

    old = migrate(BEFORE)
    Organization = old.get_model("flags", "Organization")
    staff = User.objects.create(username="staff1", is_staff=True)
    acme = Organization.objects.create(slug="acme", name="Acme Inc.")
    old.get_model("flags", "Membership").objects.create(user_id=staff.pk, organization=acme,
                                                        role="editor")
    project = old.get_model("flags", "Project").objects.create(organization=acme, key="demo",
                                                               name="Demo")
    old.get_model("flags", "AuditLog").objects.create(
        organization=acme, project=project, subject="demo", action="project_created",
        source="command")
    content_type, _ = ContentType.objects.get_or_create(app_label="flags", model="organization")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="change_organization",
        defaults={"name": "Can change organization"})
    staff.user_permissions.add(permission)

    # When the project migrates to its latest state
    migrate(latest())

    # Then the same rows are there, owned by tenancy, and the permission still holds
    from flags.models import AuditLog, Project
    from tenancy.models import Membership, Organization as CurrentOrganization

    organization = CurrentOrganization.objects.get()
    assert (organization.pk, organization.slug, organization.name) == (acme.pk, "acme",
                                                                       "Acme Inc.")
    membership = Membership.objects.get()
    assert (membership.user.username, membership.organization_id, membership.role) == (
        "staff1", acme.pk, "editor")
    assert Project.objects.get().organization == organization
    assert AuditLog.objects.get().organization == organization
    staff = User.objects.get(username="staff1")
    assert staff.has_perm("tenancy.change_organization")
