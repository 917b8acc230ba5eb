"""Every write of the flags app: atomic, audited, and published after commit.

Services are keyword-only and take an :class:`~flags.audit.Actor` saying who and from where.
They raise ``ValidationError`` (400), ``ConflictError`` (409) or ``VersionMismatch`` (412).
"""

from __future__ import annotations

import copy
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from streaming.broadcast import (
    close_credential_streams,
    close_credential_streams_on_commit,
    publish_on_commit,
)
from tenancy.models import Organization

from . import events, validation
from .channels import environment_channel, sdk_key_credential
from .audit import Actor, audit_entry, audit_record
from .configuration import flag_state_document, segment_document
from .exceptions import ConflictError, VersionMismatch
from .models import (
    SDK_KEY_PREFIX,
    AuditLog,
    Environment,
    Flag,
    FlagKind,
    FlagState,
    Project,
    ScheduledChange,
    ScheduledChangeStatus,
    SDKKey,
    SDKKeyKind,
    Segment,
    Tag,
    sdk_key_hash,
)

UNSET: Any = object()


# --- Projects and environments -------------------------------------------------------------

@transaction.atomic
def project_create(*, organization: Organization, key: str, name: str = "",
                   actor: Actor) -> Project:
    """Create a project in ``organization``."""
    validation.validate_key(key)
    if Project.objects.filter(organization=organization, key=key).exists():
        validation.fail("key", f"project {key!r} already exists")
    project = Project.objects.create(organization=organization, key=key, name=name or key)
    audit_record(actor=actor, organization=organization, project=project, action="project_created",
                 subject=key, after={"key": key, "name": project.name})
    return project


@transaction.atomic
def environment_create(*, project: Project, key: str, name: str = "",
                       actor: Actor) -> Environment:
    """Create an environment; every flag of the project gets an (off) state in it."""
    validation.validate_key(key)
    if Environment.objects.filter(project=project, key=key).exists():
        validation.fail("key", f"environment {key!r} already exists")
    environment = Environment.objects.create(project=project, key=key, name=name or key)
    for flag in project.flags.all():
        _initial_state(flag, environment)
    audit_record(actor=actor, organization=project.organization, project=project,
                 environment=environment, action="environment_created", subject=key,
                 after={"key": key, "name": environment.name})
    return environment


@transaction.atomic
def project_rename(*, project: Project, name: str, actor: Actor) -> Project:
    """Change a project's display name (its key is fixed: SDKs and URLs use it)."""
    _rename(project, name, actor, organization=project.organization, project=project,
            action="project_renamed", subject=project.key)
    return project


@transaction.atomic
def environment_rename(*, environment: Environment, name: str, actor: Actor) -> Environment:
    """Change an environment's display name (its key is fixed)."""
    project = environment.project
    _rename(environment, name, actor, organization=project.organization, project=project,
            environment=environment, action="environment_renamed", subject=environment.key)
    return environment


def _rename(obj, name: str, actor: Actor, **audit) -> None:
    name = (name or "").strip()
    if not name:
        validation.fail("name", "must not be empty")
    if len(name) > 200:
        validation.fail("name", "at most 200 characters")
    before = obj.name
    if name == before:
        return
    obj.name = name
    obj.save(update_fields=["name"])
    audit_record(actor=actor, before={"name": before}, after={"name": name}, **audit)


# --- SDK keys -------------------------------------------------------------------------------

@transaction.atomic
def sdk_key_create(*, environment: Environment, kind: str, actor: Actor,
                   name: str = "") -> tuple[SDKKey, str]:
    """Create an environment key; returns it with the raw secret, which is never stored."""
    if kind not in SDKKeyKind.values:
        validation.fail("kind", f"must be one of {', '.join(SDKKeyKind.values)}")
    raw_key = SDK_KEY_PREFIX[kind] + secrets.token_urlsafe(32)  # 256 bits of entropy
    sdk_key = SDKKey.objects.create(
        environment=environment, kind=kind, name=name, key_hash=sdk_key_hash(raw_key),
        display_prefix=raw_key[:10], created_by=actor.user)
    _audit_key(actor, sdk_key, "sdk_key_created")
    return sdk_key, raw_key


@transaction.atomic
def sdk_key_revoke(*, sdk_key: SDKKey, actor: Actor) -> SDKKey:
    """Revoke a key at once."""
    if sdk_key.revoked_at is None:
        sdk_key.revoked_at = timezone.now()
        sdk_key.save(update_fields=["revoked_at"])
        _audit_key(actor, sdk_key, "sdk_key_revoked")
        close_credential_streams_on_commit(sdk_key_credential(sdk_key.pk))
    return sdk_key


@transaction.atomic
def sdk_key_rotate(*, sdk_key: SDKKey, actor: Actor,
                   grace_seconds: int | None = None) -> tuple[SDKKey, str]:
    """Issue a replacement key; the old one keeps working for ``grace_seconds``."""
    if not sdk_key.is_active():
        raise ConflictError("a revoked or expired key cannot be rotated")
    if grace_seconds is None:
        grace_seconds = settings.SDK_KEY_ROTATION_GRACE_SECONDS
    if grace_seconds < 0:
        validation.fail("graceSeconds", "must be zero or more")
    new_key, raw_key = sdk_key_create(environment=sdk_key.environment, kind=sdk_key.kind,
                                      actor=actor, name=sdk_key.name)
    sdk_key.expires_at = timezone.now() + timedelta(seconds=grace_seconds)
    sdk_key.replaced_by = new_key
    sdk_key.save(update_fields=["expires_at", "replaced_by"])
    _audit_key(actor, sdk_key, "sdk_key_rotated")
    return new_key, raw_key


@transaction.atomic
def sdk_key_rename(*, sdk_key: SDKKey, name: str, actor: Actor) -> SDKKey:
    """Change the label of an environment key."""
    if len(name or "") > 200:
        validation.fail("name", "at most 200 characters")
    if sdk_key.name != name:
        sdk_key.name = name
        sdk_key.save(update_fields=["name"])
        _audit_key(actor, sdk_key, "sdk_key_renamed")
    return sdk_key


def sdk_key_expired_streams_close(*, now=None, window_seconds: int = 120) -> int:
    """Close the Pushpin-held streams of keys whose rotation grace period just ended.

    Revocation closes them at once (see sdk_key_revoke); expiry is only a time passing, so beat
    calls this every 30 s for keys that expired within ``window_seconds``. Streams a web process
    holds need nothing: its hub re-checks their keys.
    """
    if not settings.GRIP_URLS:
        return 0
    now = now or timezone.now()
    key_ids = list(SDKKey.objects.filter(
        revoked_at__isnull=True, expires_at__lte=now,
        expires_at__gt=now - timedelta(seconds=window_seconds)).values_list("id", flat=True))
    for key_id in key_ids:
        close_credential_streams(sdk_key_credential(key_id))
    return len(key_ids)


def _audit_key(actor: Actor, sdk_key: SDKKey, action: str) -> None:
    environment = sdk_key.environment
    audit_record(actor=actor, organization=environment.project.organization,
                 project=environment.project, environment=environment, action=action,
                 subject=f"{sdk_key.display_prefix}…",
                 after={"kind": sdk_key.kind, "prefix": sdk_key.display_prefix,
                        "revokedAt": sdk_key.revoked_at and sdk_key.revoked_at.isoformat(),
                        "expiresAt": sdk_key.expires_at and sdk_key.expires_at.isoformat()})


# --- Flags ----------------------------------------------------------------------------------

def flag_snapshot(flag: Flag) -> dict:
    """The flag's own fields, as the audit log records them."""
    return {"key": flag.key, "name": flag.name, "description": flag.description,
            "kind": flag.kind, "variants": flag.variants, "archived": flag.archived,
            "tags": sorted(tag.name for tag in flag.tags.all())}


def _set_tags(flag: Flag, names: list[str]) -> None:
    tags = [Tag.objects.get_or_create(project_id=flag.project_id, name=name)[0] for name in names]
    flag.tags.set(tags)


def _initial_state(flag: Flag, environment: Environment) -> FlagState:
    """A new state is off; turned on it serves ``true`` (booleans) or the first variant."""
    keys = [variant["key"] for variant in flag.variants]
    if flag.kind == FlagKind.BOOLEAN and "true" in keys and "false" in keys:
        on_variant, off_variant = "true", "false"
    else:
        on_variant = off_variant = keys[0]
    return FlagState.objects.create(flag=flag, environment=environment, enabled=False,
                                    off_variant=off_variant,
                                    default_rule={"variant": on_variant})


def _publish_state(event_type: str, state: FlagState, document: dict | None = None) -> None:
    environment = state.environment
    document = document or flag_state_document(state)
    publish_on_commit(environment_channel(environment.id), event_type,
                      events.flag_event(event_type, environment, document))


@transaction.atomic
def flag_create(*, project: Project, key: str, actor: Actor, name: str = "",
                kind: str = FlagKind.BOOLEAN, variants: list | None = None,
                description: str = "", tags: list[str] | None = None) -> Flag:
    """Create a flag with an (off) state in every environment of the project."""
    validation.validate_key(key)
    variants = validation.normalize_variants(kind, variants)
    tags = validation.normalize_tags([] if tags is None else tags)
    if Flag.objects.filter(project=project, key=key).exists():
        validation.fail("key", f"flag {key!r} already exists in project {project.key!r}")
    try:
        with transaction.atomic():
            flag = Flag.objects.create(project=project, key=key, name=name or key,
                                       description=description, kind=kind, variants=variants,
                                       salt=secrets.token_hex(8))
    except IntegrityError:  # a concurrent create won the race
        validation.fail("key", f"flag {key!r} already exists in project {project.key!r}")
    _set_tags(flag, tags)
    for environment in project.environments.all():
        state = _initial_state(flag, environment)
        _publish_state(events.FLAG_CREATED, state)
    audit_record(actor=actor, organization=project.organization, project=project, flag=flag,
                 action=events.FLAG_CREATED, subject=key, after=flag_snapshot(flag))
    return flag


@transaction.atomic
def flag_update(*, flag: Flag, actor: Actor, name: str = UNSET, description: str = UNSET,
                variants: list = UNSET, tags: list[str] = UNSET,
                archived: bool = UNSET) -> Flag:
    """Change a flag's own fields. Every environment's state gets a new version and event."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    before = flag_snapshot(flag)
    if name is not UNSET:
        flag.name = name
    if description is not UNSET:
        flag.description = description
    if variants is not UNSET:
        flag.variants = validation.normalize_variants(flag.kind, variants)
        _check_variants_still_used(flag)
    if tags is not UNSET:
        _set_tags(flag, validation.normalize_tags(tags))
    if archived is not UNSET:
        flag.archived = bool(archived)
    after = flag_snapshot(flag)
    if after == before:
        return flag
    flag.updated_at = timezone.now()
    flag.save()
    was_archived, is_archived = before["archived"], after["archived"]
    for state in flag.states.select_related("environment__project").select_for_update():
        state.version += 1
        state.updated_at = flag.updated_at
        state.save(update_fields=["version", "updated_at"])
        if is_archived and not was_archived:  # archived flags are no longer served to SDKs
            publish_on_commit(environment_channel(state.environment_id), events.FLAG_DELETED,
                              events.flag_deleted_event(state.environment, flag.key, state.version,
                                                        after["tags"]))
        else:
            _publish_state(events.FLAG_CREATED if was_archived and not is_archived
                           else events.FLAG_UPDATED, state)
    audit_record(actor=actor, organization=flag.project.organization, project=flag.project,
                 flag=flag, action=events.FLAG_UPDATED, subject=flag.key, before=before,
                 after=after)
    return flag


def _check_variants_still_used(flag: Flag) -> None:
    """Refuse to drop a variant that a state or another flag's prerequisite still serves."""
    keys = set(flag.variant_values())
    for state in flag.states.select_related("environment"):
        document = flag_state_document(state, flag, tags=[])
        for field, variant in validation.referenced_variants(document):
            if variant not in keys:
                validation.fail("variants", f"variant {variant!r} is still used by "
                                            f"{state.environment.key}: {field}")
    for state in FlagState.objects.filter(flag__project_id=flag.project_id).exclude(flag=flag):
        for prerequisite in state.prerequisites:
            if prerequisite.get("flag") == flag.key and prerequisite.get("variant") not in keys:
                validation.fail("variants", f"variant {prerequisite['variant']!r} is a "
                                            f"prerequisite of flag {state.flag.key!r}")


@transaction.atomic
def flag_delete(*, flag: Flag, actor: Actor) -> None:
    """Delete a flag; refused (409) while another flag has it as a prerequisite."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    dependants = sorted({
        state.flag.key
        for state in FlagState.objects.filter(flag__project_id=flag.project_id)
        .exclude(flag=flag).select_related("flag")
        if any(p.get("flag") == flag.key for p in state.prerequisites)
    })
    if dependants:
        raise ConflictError(f"flag {flag.key!r} is a prerequisite of {', '.join(dependants)}",
                            field="prerequisites")
    before = flag_snapshot(flag)
    # Its pending scheduled changes can no longer apply: they end as failed and stay on record.
    ScheduledChange.objects.filter(state__flag=flag, status=ScheduledChangeStatus.PENDING).update(
        status=ScheduledChangeStatus.FAILED, finished_at=timezone.now(),
        reason=f"flag {flag.key!r} was deleted")
    for state in flag.states.select_related("environment__project"):
        publish_on_commit(environment_channel(state.environment_id), events.FLAG_DELETED,
                          events.flag_deleted_event(state.environment, flag.key,
                                                    state.version + 1, before["tags"]))
    audit_record(actor=actor, organization=flag.project.organization, project=flag.project,
                 flag=None, action=events.FLAG_DELETED, subject=flag.key, before=before)
    flag.delete()


STATE_FIELDS = {"enabled": "enabled", "off_variant": "offVariant", "rules": "rules",
                "default_rule": "defaultRule", "prerequisites": "prerequisites"}


@transaction.atomic
def flag_state_update(*, state: FlagState, actor: Actor, expected_version: int | None = None,
                      enabled: bool = UNSET, off_variant: str = UNSET, rules: list = UNSET,
                      default_rule: dict = UNSET, prerequisites: list = UNSET) -> FlagState:
    """Change a flag's targeting in one environment.

    With ``expected_version`` the change applies only if the state is still at that version
    (``VersionMismatch`` otherwise). A change that changes nothing keeps the version.
    """
    state = _locked_state(state.pk)
    if expected_version is not None and state.version != expected_version:
        raise VersionMismatch(expected_version, state.version)
    [error] = _apply_patches(state, [dict(
        enabled=enabled, off_variant=off_variant, rules=rules, default_rule=default_rule,
        prerequisites=prerequisites)], actor)
    if error is not None:
        raise error
    return state


@transaction.atomic
def flag_state_update_sequence(*, state: FlagState, patches: list[dict],
                               actor: Actor) -> list[ValidationError | None]:
    """Apply several changes to one flag state, in order, in one transaction.

    Each patch takes the keyword arguments of :func:`flag_state_update` and each effective one
    is its own version and audit entry, as if they were made one after the other. A patch that
    does not validate is skipped and the rest still apply; the result holds, per patch, its
    ``ValidationError`` or None. Subscribers get one event with the resulting state: the
    versions in between existed only inside this transaction.
    """
    return _apply_patches(_locked_state(state.pk), patches, actor)


def _apply_patches(state: FlagState, patches: list[dict],
                   actor: Actor) -> list[ValidationError | None]:
    """The patches applied in order to the locked ``state``: saved once, each effective one
    audited, one event for the result; per patch its ``ValidationError`` (skipped) or None."""
    flag = state.flag
    tags = sorted(tag.name for tag in flag.tags.all())
    first_before = flag_state_document(state, flag, tags)
    results: list[ValidationError | None] = []
    entries = []
    for patch in patches:
        kept = {name: copy.deepcopy(getattr(state, name)) for name in _PATCHABLE}
        try:
            change = _state_patch_apply(state, flag, tags, **patch)
        except ValidationError as exc:
            for name, value in kept.items():
                setattr(state, name, value)
            results.append(exc)
            continue
        results.append(None)
        if change is not None:
            before, after = change
            entries.append(audit_entry(
                actor=actor, organization=flag.project.organization, project=flag.project,
                environment=state.environment, flag=flag,
                action=events.state_change_type(before, after), subject=flag.key,
                before=before, after=after))
    if entries:
        state.updated_at = timezone.now()
        state.save()
        AuditLog.objects.bulk_create(entries)
        after = entries[-1].after
        _publish_state(events.state_change_type(first_before, after), state, after)
    return results


_PATCHABLE = ("enabled", "off_variant", "rules", "default_rule", "prerequisites")


def _locked_state(pk: int) -> FlagState:
    return (FlagState.objects.select_for_update()
            .select_related("flag__project__organization", "environment__project").get(pk=pk))


def _state_patch_apply(state: FlagState, flag: Flag, tags: list[str], *, enabled=UNSET,
                       off_variant=UNSET, rules=UNSET, default_rule=UNSET,
                       prerequisites=UNSET) -> tuple[dict, dict] | None:
    """Validate a patch and apply it to ``state`` in memory, raising the version: (the state
    document before, after) — or None, leaving the version, when it changes nothing."""
    before = flag_state_document(state, flag, tags)
    if enabled is not UNSET:
        if not isinstance(enabled, bool):
            validation.fail("enabled", "must be true or false")
        state.enabled = enabled
    if off_variant is not UNSET:
        state.off_variant = off_variant
    if rules is not UNSET:
        state.rules = validation.normalize_rules(rules)
    if default_rule is not UNSET:
        state.default_rule = validation.validate_default_rule(default_rule)
    if prerequisites is not UNSET:
        state.prerequisites = validation.validate_prerequisites(
            flag=flag, environment=state.environment, prerequisites=prerequisites)
    after = flag_state_document(state, flag, tags)
    if after == before:
        return None
    validation.validate_state_document(after, validation.segment_predicates_for(after,
                                                                                flag.project_id))
    state.version += 1
    after["version"] = state.version
    return before, after


# --- Segments -------------------------------------------------------------------------------

def _flags_using_segment(project_id: int, environment_id: int, segment_key: str) -> list[str]:
    keys = []
    for flag_key, rules in FlagState.objects.filter(
            environment_id=environment_id, flag__project_id=project_id).values_list(
            "flag__key", "rules"):
        for rule in rules or []:
            for constraint in rule.get("constraints") or []:
                if (constraint.get("operator") == "segment_match"
                        and segment_key in (constraint.get("values") or [])):
                    keys.append(flag_key)
    return sorted(set(keys))


def _publish_segment(segment_key: str, project: Project, document: dict | None) -> None:
    for environment in project.environments.all():
        flag_keys = _flags_using_segment(project.id, environment.id, segment_key)
        tags = sorted(set(Tag.objects.filter(project=project, flags__key__in=flag_keys)
                          .values_list("name", flat=True)))
        publish_on_commit(environment_channel(environment.id), events.SEGMENT_UPDATED,
                          events.segment_updated_event(environment, segment_key, document,
                                                       flag_keys, tags))


@transaction.atomic
def segment_create(*, project: Project, key: str, actor: Actor, name: str = "",
                   description: str = "", constraints: list | None = None) -> Segment:
    """Create a segment (a reusable audience)."""
    validation.validate_key(key)
    constraints = validation.validate_segment_constraints(
        [] if constraints is None else constraints)
    if Segment.objects.filter(project=project, key=key).exists():
        validation.fail("key", f"segment {key!r} already exists in project {project.key!r}")
    segment = Segment.objects.create(project=project, key=key, name=name or key,
                                     description=description, constraints=constraints)
    document = segment_document(segment)
    _publish_segment(key, project, document)
    audit_record(actor=actor, organization=project.organization, project=project,
                 action="segment_created", subject=key, after=document)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, actor: Actor, name: str = UNSET,
                   description: str = UNSET, constraints: list = UNSET) -> Segment:
    """Change a segment; every environment hears ``segment_updated``."""
    segment = Segment.objects.select_for_update().select_related(
        "project__organization").get(pk=segment.pk)
    before = segment_document(segment)
    before_description = segment.description
    if name is not UNSET:
        segment.name = name
    if description is not UNSET:
        segment.description = description
    if constraints is not UNSET:
        segment.constraints = validation.validate_segment_constraints(constraints)
    after = segment_document(segment)
    if after == before and segment.description == before_description:
        return segment
    segment.updated_at = timezone.now()
    segment.save()
    _publish_segment(segment.key, segment.project, after)
    audit_record(actor=actor, organization=segment.project.organization, project=segment.project,
                 action=events.SEGMENT_UPDATED, subject=segment.key, before=before, after=after)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor: Actor) -> None:
    """Delete a segment; refused (409) while a rule matches it."""
    project = segment.project
    users = sorted({key for environment in project.environments.all()
                    for key in _flags_using_segment(project.id, environment.id, segment.key)})
    if users:
        raise ConflictError(f"segment {segment.key!r} is used by {', '.join(users)}",
                            field="key")
    before = segment_document(segment)
    _publish_segment(segment.key, project, None)
    audit_record(actor=actor, organization=project.organization, project=project,
                 action="segment_deleted", subject=segment.key, before=before)
    segment.delete()


def state_fields_from_api(data: dict) -> dict[str, Any]:
    """API (camelCase) state fields to service keyword arguments."""
    reverse = {api: name for name, api in STATE_FIELDS.items()}
    return {reverse[key]: value for key, value in data.items() if key in reverse}


def validation_error_fields(error: ValidationError) -> dict[str, list[str]]:
    """``{field: [messages]}`` of a ValidationError, for forms and the API alike."""
    if hasattr(error, "error_dict"):
        return {field: [m for e in errors for m in e.messages]
                for field, errors in error.error_dict.items()}
    return {"non_field_errors": error.messages}
