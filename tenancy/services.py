"""Writes of the tenancy app: organizations and memberships."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Membership, Organization, Role


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


@transaction.atomic
def organization_create(*, slug: str, name: str = "") -> Organization:
    """Create an organization (tenant)."""
    if Organization.objects.filter(slug=slug).exists():
        _fail("slug", f"organization {slug!r} already exists")
    return Organization.objects.create(slug=slug, name=name or slug)


@transaction.atomic
def organization_rename(*, organization: Organization, name: str) -> Organization:
    """Change an organization's display name (its slug is fixed: URLs and filters use it)."""
    if not name or not name.strip():
        _fail("name", "must not be empty")
    organization.name = name.strip()
    organization.save(update_fields=["name"])
    return organization


@transaction.atomic
def membership_set(*, organization: Organization, user, role: str) -> Membership:
    """Give ``user`` ``role`` in ``organization`` (creating or changing the membership)."""
    if role not in Role.values:
        _fail("role", f"must be one of {', '.join(Role.values)}")
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a user out of an organization."""
    membership.delete()
