"""Reads a tenant can reach, each scoped to the caller.

Objects of organizations the caller does not belong to are reported as not found (404), never
as forbidden, so that their existence does not leak. A member whose role is too low for the
action gets PermissionDenied (403).
"""

from __future__ import annotations

import hmac

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from tenancy.models import Role
from tenancy.selectors import organizations_for_user, require_role

from .models import (
    AuditLog,
    Environment,
    Flag,
    FlagState,
    Project,
    ScheduledChange,
    SDKKey,
    Segment,
    sdk_key_hash,
)


def projects_for_user(user) -> QuerySet[Project]:
    return (Project.objects.filter(organization__in=organizations_for_user(user))
            .select_related("organization"))


def project_get_for_user(user, key: str, *, min_role: str = Role.VIEWER,
                         organization: str | None = None) -> Project:
    """The caller's project ``key``; ``organization`` (a slug) picks one when keys clash.

    When the key is in several organizations the caller can reach, the one of the caller's
    own memberships wins: a superuser reaches every organization, and another organization's
    project of the same name must not break the commands they use every day.
    """
    projects = projects_for_user(user).filter(key=key)
    if organization:
        projects = projects.filter(organization__slug=organization)
    found = list(projects[:2])
    if not found:
        raise Http404("project not found")
    if len(found) > 1:
        found = list(projects.filter(organization__memberships__user=user)[:2])
    if len(found) != 1:
        raise ValidationError({"organization": [
            f"project {key!r} exists in several of your organizations; "
            "add ?organization=<slug>"]})
    projects = found
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
    digest = sdk_key_hash(raw_key)
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
