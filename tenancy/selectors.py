"""Who may see which organization, and with which role.

Objects of organizations the caller does not belong to are reported as not found (404), never
as forbidden, so that their existence does not leak. A member whose role is too low for the
action gets PermissionDenied (403). Every app scopes its reads with these.
"""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import API_KEY_PREFIX, ROLE_RANK, APIKey, Membership, Organization, Role, api_key_hash


def role_in(user, organization_id: int) -> str | None:
    """The user's role in an organization (superusers are admins everywhere), or None."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return (Membership.objects.filter(user=user, organization_id=organization_id)
            .values_list("role", flat=True).first())


def require_role(user, organization_id: int, min_role: str) -> str:
    """The user's role, or 404 for a non-member and 403 for a member below ``min_role``."""
    role = role_in(user, organization_id)
    if role is None:
        raise Http404("not found")
    if ROLE_RANK[role] < ROLE_RANK[min_role]:
        raise PermissionDenied(f"this needs the {min_role} role; you are {role}")
    return role


def organizations_for_user(user) -> QuerySet[Organization]:
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user)


def organization_default_for_user(user) -> Organization | None:
    """The organization a request that names none is about: the caller's only one, or else
    the only one the caller is a member of (superusers reach all); None when that is unclear."""
    for organizations in (organizations_for_user(user),
                          Organization.objects.filter(memberships__user=user)):
        found = list(organizations[:2])
        if len(found) == 1:
            return found[0]
    return None


def organization_get_for_user(user, slug: str, *, min_role: str = Role.VIEWER) -> Organization:
    organization = organizations_for_user(user).filter(slug=slug).first()
    if organization is None:
        raise Http404("organization not found")
    require_role(user, organization.id, min_role)
    return organization


def api_key_authenticate(raw_key: str | None) -> APIKey | None:
    """The active organization key whose secret is ``raw_key``, or None."""
    if not raw_key or not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 200:
        return None
    digest = api_key_hash(raw_key)
    api_key = APIKey.objects.select_related("organization").filter(key_hash=digest).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return api_key if api_key.is_active() else None


_recent_keys: dict[str, tuple[float, APIKey]] = {}


def api_key_authenticate_recent(raw_key: str | None) -> APIKey | None:
    """The same, answered from this process's memory for ``API_KEY_CACHE_SECONDS`` after a
    key was last read: the hot ingest path then needs no query. A revocation made in this
    process applies at once (``api_key_forget``), one made elsewhere within those seconds."""
    remembered = api_key_remembered(raw_key)
    if remembered is not None:
        return remembered
    api_key = api_key_authenticate(raw_key)
    if api_key is not None:
        if len(_recent_keys) > 10_000:
            _recent_keys.clear()
        _recent_keys[api_key.key_hash] = (time.monotonic(), api_key)
    return api_key


def api_key_remembered(raw_key: str | None) -> APIKey | None:
    """A key read within ``API_KEY_CACHE_SECONDS`` and still active, from memory only."""
    if not raw_key:
        return None
    found = _recent_keys.get(api_key_hash(raw_key))
    if found is not None and time.monotonic() - found[0] < settings.API_KEY_CACHE_SECONDS \
            and found[1].is_active():
        return found[1]
    return None


def api_key_forget() -> None:
    _recent_keys.clear()
