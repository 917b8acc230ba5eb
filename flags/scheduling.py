"""Services of scheduled changes: create, cancel, and apply what is due — exactly once.

A change is validated when scheduled (by applying it inside a transaction that is then rolled
back, so exactly the checks of a real change run) and again when applied. Applying claims the
flag state with due changes (``SELECT … FOR UPDATE SKIP LOCKED`` on the state) and marks its
due changes applied in the same transaction as the changes themselves: with two workers and two
beats racing, each flag's changes are taken by one of them, in order, and the others find
nothing left. A change that no longer applies (variant removed) ends as failed with its reason,
and the other changes of the batch still apply; deleting a flag fails its pending changes.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import services, validation
from .audit import Actor, audit_record
from .exceptions import ConflictError
from .models import (
    ChangeSource,
    FlagState,
    ScheduledChange,
    ScheduledChangeStatus,
    ScheduledChangeType,
)

logger = logging.getLogger(__name__)

SCHEDULER = Actor(source=ChangeSource.SCHEDULER, label="scheduler")


class _DryRun(Exception):
    pass


def state_patch(change_type: str, payload) -> dict:
    """The flag_state_update keyword arguments a scheduled change stands for."""
    if not isinstance(payload, dict):
        validation.fail("payload", "must be an object")
    if change_type == ScheduledChangeType.ENABLE:
        return {"enabled": True}
    if change_type == ScheduledChangeType.DISABLE:
        return {"enabled": False}
    if change_type == ScheduledChangeType.SET_DEFAULT_VARIANT:
        if not isinstance(payload.get("variant"), str):
            validation.fail("payload.variant", "names the variant to serve by default")
        return {"default_rule": {"variant": payload["variant"]}}
    if change_type == ScheduledChangeType.SET_ROLLOUT:
        distribution = payload.get("distribution")
        if not isinstance(distribution, list) or not distribution:
            validation.fail("payload.distribution",
                            'a list such as [{"variant": "on", "weight": 50}, ...]')
        return {"default_rule": {"distribution": distribution}}
    if change_type == ScheduledChangeType.UPDATE:
        unknown = sorted(set(payload) - set(services.STATE_FIELDS.values()))
        if unknown:
            validation.fail(f"payload.{unknown[0]}", "unknown field")
        if not payload:
            validation.fail("payload", "names at least one of "
                                       + ", ".join(services.STATE_FIELDS.values()))
        return services.state_fields_from_api(payload)
    validation.fail("changeType", f"must be one of {', '.join(ScheduledChangeType.values)}")


def _prefixed(error: ValidationError) -> ValidationError:
    fields = services.validation_error_fields(error)
    return ValidationError({(k if k.startswith(("payload", "changeType", "scheduledAt"))
                             else f"payload.{k}"): v for k, v in fields.items()})


def _check_applies(state: FlagState, patch: dict) -> None:
    """Run the change for real and roll it back: the same validation as when it applies."""
    try:
        with transaction.atomic():
            services.flag_state_update(state=state, actor=SCHEDULER, **patch)
            raise _DryRun
    except _DryRun:
        pass
    except ValidationError as exc:
        raise _prefixed(exc) from None


@transaction.atomic
def scheduled_change_create(*, state: FlagState, scheduled_at: datetime, change_type: str,
                            payload: dict | None, actor: Actor) -> ScheduledChange:
    """Schedule a change of ``state`` at ``scheduled_at`` (timezone-aware, in the future)."""
    if not isinstance(scheduled_at, datetime) or timezone.is_naive(scheduled_at):
        validation.fail("scheduledAt", "must be an ISO 8601 time with a timezone")
    if scheduled_at <= timezone.now():
        validation.fail("scheduledAt", "must be in the future")
    if change_type not in ScheduledChangeType.values:
        validation.fail("changeType", f"must be one of {', '.join(ScheduledChangeType.values)}")
    payload = {} if payload is None else payload
    _check_applies(state, state_patch(change_type, payload))
    change = ScheduledChange.objects.create(
        state=state, flag_key=state.flag.key, environment_key=state.environment.key,
        scheduled_at=scheduled_at, change_type=change_type, payload=payload,
        created_by=actor.user, created_from=actor.source)
    flag = state.flag
    audit_record(actor=actor, organization=flag.project.organization, project=flag.project,
                 environment=state.environment, flag=flag, action="change_scheduled",
                 subject=flag.key, after=scheduled_change_snapshot(change))
    transaction.on_commit(lambda: _queue_at_its_time(change))
    return change


def _queue_at_its_time(change: ScheduledChange) -> None:
    """Queue the change's task for its time; beat's sweep still applies it if this is lost.

    Sent by name: the task module is an entry point that calls this one, not the other way.
    """
    try:
        current_app.send_task("flags.tasks.apply_scheduled_change", args=(change.pk,),
                              eta=change.scheduled_at)
    except Exception:  # noqa: BLE001 - the broker may be down; beat will still apply it
        logger.warning("could not queue scheduled change %s", change.pk)


def scheduled_change_snapshot(change: ScheduledChange) -> dict:
    return {"id": change.pk, "scheduledAt": change.scheduled_at.isoformat(),
            "changeType": change.change_type, "payload": change.payload,
            "status": change.status}


@transaction.atomic
def scheduled_change_cancel(*, change: ScheduledChange, actor: Actor,
                            reason: str = "") -> ScheduledChange:
    """Cancel a pending change; anything else is a conflict (409)."""
    updated = ScheduledChange.objects.filter(
        pk=change.pk, status=ScheduledChangeStatus.PENDING).update(
        status=ScheduledChangeStatus.CANCELLED, finished_at=timezone.now(),
        reason=reason or f"cancelled by {actor.display}")
    change.refresh_from_db()
    if not updated:
        raise ConflictError(f"the change is {change.status}; only pending changes can be "
                            "cancelled", field="status")
    flag = change.state.flag
    audit_record(actor=actor, organization=flag.project.organization, project=flag.project,
                 environment=change.state.environment, flag=flag, action="change_cancelled",
                 subject=flag.key, after=scheduled_change_snapshot(change))
    return change


def _due(now: datetime):
    """Pending changes whose time has come, oldest first."""
    return (ScheduledChange.objects
            .filter(status=ScheduledChangeStatus.PENDING, scheduled_at__lte=now)
            .order_by("scheduled_at", "id"))


def _claim_next_state(now: datetime, change_id: int | None) -> int | None:
    """Lock the flag state with the oldest due change that no other worker is applying.

    Workers take whole flag states, never single changes: the state's row lock (``SKIP
    LOCKED``, so a second worker moves on to the next flag instead of waiting) is what lets one
    worker apply a flag's changes in their order. SQLite has no row locks and serialises
    writers anyway; Django drops the clauses there.
    """
    due = _due(now).filter(state__isnull=False)
    if change_id is not None:
        due = due.filter(pk=change_id)
    candidates = dict.fromkeys(due.values_list("state_id", flat=True)[:_CANDIDATES])
    for state_id in candidates:  # oldest due first; usually the first or second is free
        locked = (FlagState.objects.select_for_update(skip_locked=True).filter(pk=state_id)
                  .values_list("pk", flat=True).first())
        # Another worker may have applied this flag between the listing and the lock.
        if locked is not None and due.filter(state_id=state_id).exists():
            return state_id
    return None


_CANDIDATES = 500  # due changes looked at per claim: more are taken by later claims


def _apply_state_batch(now: datetime, change_id: int | None = None) -> dict[int, str]:
    """Claim a flag state with due changes (the one of ``change_id``, if given) and apply all
    its due changes in order in one transaction: {change id: its status}, empty when there was
    nothing to claim.

    One lock of the state, one save, one bulk of audit entries and one published event for the
    lot, instead of a transaction each: 1,000 changes due at once across 100 flags are 100
    transactions. A change that no longer applies fails alone with its reason.
    """
    with transaction.atomic():
        state_id = _claim_next_state(now, change_id)
        if state_id is None:
            return {}
        changes = list(_due(now).filter(state_id=state_id).select_for_update())
        patches, outcome, reasons = {}, {}, {}
        for change in changes:
            try:
                patches[change.pk] = state_patch(change.change_type, change.payload)
            except ValidationError as exc:
                reasons[change.pk] = _reason(exc)
        errors = services.flag_state_update_sequence(
            state=FlagState(pk=state_id), patches=list(patches.values()), actor=SCHEDULER)
        for pk, error in zip(patches, errors):
            if error is not None:
                reasons[pk] = _reason(error)
        by_lateness: dict[int, list[int]] = {}
        for change in changes:
            if change.pk not in reasons:
                lateness = int((now - change.scheduled_at).total_seconds() * 1000)
                by_lateness.setdefault(lateness, []).append(change.pk)
                outcome[change.pk] = ScheduledChangeStatus.APPLIED
        for lateness, ids in by_lateness.items():
            ScheduledChange.objects.filter(pk__in=ids).update(
                status=ScheduledChangeStatus.APPLIED, finished_at=now, lateness_ms=lateness)
        for pk, reason in reasons.items():
            outcome[pk] = _fail(pk, now, reason)
        return outcome


def _reason(error: ValidationError) -> str:
    return "; ".join(f"{k}: {' '.join(v)}"
                     for k, v in services.validation_error_fields(error).items())


def scheduled_change_apply(*, change_id: int, now: datetime | None = None) -> str:
    """Apply one change if it is due and nobody has (with any other due change of its flag
    state); returns its status, or 'skipped'."""
    now = now or timezone.now()
    return _apply_state_batch(now, change_id).get(change_id, "skipped")


@transaction.atomic
def _fail(change_id: int, now: datetime, reason: str) -> str:
    failed = ScheduledChange.objects.filter(
        pk=change_id, status=ScheduledChangeStatus.PENDING).update(
        status=ScheduledChangeStatus.FAILED, finished_at=now, reason=reason)
    if not failed:
        return "skipped"
    change = ScheduledChange.objects.select_related("state__flag__project__organization",
                                                    "state__environment").get(pk=change_id)
    logger.warning("scheduled change %s failed: %s", change_id, reason)
    if change.state is None:
        return ScheduledChangeStatus.FAILED  # the flag's deletion was audited itself
    flag = change.state.flag
    audit_record(actor=SCHEDULER, organization=flag.project.organization,
                 project=flag.project, environment=change.state.environment, flag=flag,
                 action="scheduled_change_failed", subject=flag.key,
                 after={**scheduled_change_snapshot(change), "reason": reason})
    return ScheduledChangeStatus.FAILED


def scheduled_changes_apply_due(*, now: datetime | None = None) -> dict[str, int]:
    """Apply every pending change whose time has come (missed ones too), oldest first, one
    transaction per flag state, taking only changes no other worker is applying."""
    counts: dict[str, int] = {}
    for _ in range(10_000):  # bounded: a sweep never runs away
        at = max(now or timezone.now(), timezone.now())
        outcome = _apply_state_batch(at)
        if not outcome:
            break
        for status in map(str, outcome.values()):  # plain strings: they end up in task logs
            counts[status] = counts.get(status, 0) + 1
    return counts
