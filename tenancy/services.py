"""Writes of the tenancy app: organizations, memberships and organization API keys."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import (
    API_KEY_PREFIX,
    APIKey,
    APIKeyScope,
    Membership,
    Organization,
    Role,
    api_key_hash,
)
from .selectors import api_key_forget


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
def organization_streaming_set(*, organization: Organization, enabled: bool) -> Organization:
    """Turn the organization's live company updates on or off (the per-company switch). Off:
    new company streams are refused and open ones end within STREAM_AUTH_RECHECK_SECONDS."""
    organization.streaming_enabled = bool(enabled)
    organization.save(update_fields=["streaming_enabled"])
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


def normalize_scopes(scopes) -> list[str]:
    if isinstance(scopes, str):
        scopes = [part.strip() for part in scopes.split(",") if part.strip()]
    if not isinstance(scopes, (list, tuple)) or not scopes:
        _fail("scopes", f"name at least one of {', '.join(APIKeyScope.values)}")
    unknown = [scope for scope in scopes if scope not in APIKeyScope.values]
    if unknown:
        _fail("scopes", f"unknown scope {unknown[0]!r}; one of {', '.join(APIKeyScope.values)}")
    return sorted(set(scopes), key=APIKeyScope.values.index)


@transaction.atomic
def api_key_create(*, organization: Organization, scopes, name: str = "",
                   created_by=None) -> tuple[APIKey, str]:
    """A new key with ``scopes``; returns it and its secret (``ap_live_…``), shown only now."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = APIKey.objects.create(
        organization=organization, name=name[:200], scopes=normalize_scopes(scopes),
        key_hash=api_key_hash(raw_key), display_prefix=raw_key[:len(API_KEY_PREFIX) + 6],
        created_by=created_by)
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: APIKey) -> APIKey:
    """Refused from now on (streams opened with it close at their next check)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    transaction.on_commit(api_key_forget)
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: APIKey, grace_seconds: int = 3600) -> tuple[APIKey, str]:
    """A replacement with the same scopes; the old key keeps working for ``grace_seconds``."""
    if not api_key.is_active():
        _fail("key", "only an active key can be rotated")
    new_key, raw_key = api_key_create(organization=api_key.organization, scopes=api_key.scopes,
                                      name=api_key.name, created_by=api_key.created_by)
    api_key.expires_at = timezone.now() + timedelta(seconds=max(0, grace_seconds))
    api_key.replaced_by = new_key
    api_key.save(update_fields=["expires_at", "replaced_by"])
    transaction.on_commit(api_key_forget)
    return new_key, raw_key
