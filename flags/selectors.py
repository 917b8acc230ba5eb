"""Reads a tenant can reach, each scoped to the caller.

Objects of organizations the caller does not belong to are reported as not found (404), never
as forbidden, so that their existence does not leak. A member whose role is too low for the
action gets PermissionDenied (403).
"""

from __future__ import annotations

import hashlib
import hmac

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from .models import (
    ROLE_RANK,
    AuditLog,
    Environment,
    Flag,
    FlagState,
    Membership,
    Organization,
    Project,
    Role,
    ScheduledChange,
    SDKKey,
    Segment,
)


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


def organization_get_for_user(user, slug: str, *, min_role: str = Role.VIEWER) -> Organization:
    organization = organizations_for_user(user).filter(slug=slug).first()
    if organization is None:
        raise Http404("organization not found")
    require_role(user, organization.id, min_role)
    return organization


def projects_for_user(user) -> QuerySet[Project]:
    return (Project.objects.filter(organization__in=organizations_for_user(user))
            .select_related("organization"))


def project_get_for_user(user, key: str, *, min_role: str = Role.VIEWER,
                         organization: str | None = None) -> Project:
    """The caller's project ``key``; ``organization`` (a slug) picks one when keys clash."""
    projects = projects_for_user(user).filter(key=key)
    if organization:
        projects = projects.filter(organization__slug=organization)
    projects = list(projects[:2])
    if not projects:
        raise Http404("project not found")
    if len(projects) > 1:
        raise ValidationError({"organization": [
            f"project {key!r} exists in several of your organizations; "
            "add ?organization=<slug>"]})
    project = projects[0]
    require_role(user, project.organization_id, min_role)
    return project


def environment_get(project: Project, key: str) -> Environment:
    environment = Environment.objects.filter(project=project, key=key).select_related(
        "project__organization").first()
    if environment is None:
        raise Http404("environment not found")
    return environment


def flag_get(project: Project, key: str) -> Flag:
    flag = Flag.objects.filter(project=project, key=key).select_related("project").first()
    if flag is None:
        raise Http404("flag not found")
    return flag


def flags_list(project: Project, *, tag: str | None = None,
               archived: bool | None = None) -> QuerySet[Flag]:
    flags = Flag.objects.filter(project=project).prefetch_related(
        "tags", "states__environment")
    if tag:
        flags = flags.filter(tags__name=tag)
    if archived is not None:
        flags = flags.filter(archived=archived)
    return flags.order_by("key").distinct()


def flag_state_get(flag: Flag, environment: Environment) -> FlagState:
    state = FlagState.objects.filter(flag=flag, environment=environment).select_related(
        "flag", "environment").first()
    if state is None:
        raise Http404("flag state not found")
    return state


def segment_get(project: Project, key: str) -> Segment:
    segment = Segment.objects.filter(project=project, key=key).first()
    if segment is None:
        raise Http404("segment not found")
    return segment


def audit_for_flag(flag: Flag) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(flag=flag).select_related("environment", "actor")


def sdk_keys_for_environment(environment: Environment) -> QuerySet[SDKKey]:
    return SDKKey.objects.filter(environment=environment)


def sdk_key_get(environment: Environment, key_id) -> SDKKey:
    try:
        sdk_key = SDKKey.objects.filter(environment=environment, pk=int(key_id)).first()
    except (TypeError, ValueError):
        sdk_key = None
    if sdk_key is None:
        raise Http404("key not found")
    return sdk_key


def sdk_key_authenticate(raw_key: str | None) -> SDKKey | None:
    """The active key whose secret is ``raw_key``, or None.

    The lookup is by SHA-256 of the secret, and the stored hash is compared with
    ``hmac.compare_digest`` so that timing does not reveal how much of a guess matched.
    """
    if not raw_key or not raw_key.startswith(("srv-", "cli-")) or len(raw_key) > 200:
        return None
    digest = hashlib.sha256(raw_key.encode()).hexdigest()
    sdk_key = (SDKKey.objects.filter(key_hash=digest)
               .select_related("environment__project__organization").first())
    if sdk_key is None or not hmac.compare_digest(sdk_key.key_hash, digest):
        return None
    return sdk_key if sdk_key.is_active(timezone.now()) else None


def scheduled_changes_for(state: FlagState) -> QuerySet[ScheduledChange]:
    return ScheduledChange.objects.filter(state=state).select_related(
        "state__flag", "state__environment").order_by("-scheduled_at", "-id")


def scheduled_change_get(state: FlagState, change_id) -> ScheduledChange:
    try:
        change = scheduled_changes_for(state).filter(pk=int(change_id)).first()
    except (TypeError, ValueError):
        change = None
    if change is None:
        raise Http404("scheduled change not found")
    return change


def flag_state_lookup(project: str, environment: str, flag: str,
                      organization: str | None = None) -> FlagState:
    """A flag's state by keys, for operator commands; LookupError says what is wrong."""
    states = FlagState.objects.filter(flag__project__key=project, environment__key=environment,
                                      flag__key=flag)
    if organization:
        states = states.filter(flag__project__organization__slug=organization)
    matches = list(states.select_related("flag__project__organization",
                                         "environment__project")[:2])
    if not matches:
        raise LookupError(f"no flag {flag!r} in {project}/{environment}")
    if len(matches) > 1:
        raise LookupError("the project exists in several organizations; pass --organization")
    return matches[0]
