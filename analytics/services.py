"""Writes of the analytics app: a batch of SDK events stored whole, once per payload id; the
rollups (analytics.rollups) and what they announce; trimming."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from flags.models import Environment
from streaming.broadcast import publish_many
from streaming.rows import rows_insert
from tenancy.channels import organization_updates_channel

from . import rollups
from .ingest import Batch
from .models import (
    ContextCount,
    CustomEvent,
    CustomRollup,
    EvaluationEvent,
    EvaluationRollup,
    IngestPayload,
)

EVALUATION_COLUMNS = ["environment_id", "flag_key", "variant", "reason", "context_id", "count",
                      "value", "timestamp", "received_at"]
CUSTOM_COLUMNS = ["environment_id", "name", "context_id", "value", "details", "timestamp",
                  "received_at"]


def _accepted(payload: IngestPayload) -> dict:
    return {"evaluations": payload.evaluations, "summaryCounts": payload.summary_counts,
            "events": payload.custom_events}


def events_ingest(environment: Environment, payload_id: str | None, batch: Batch) -> dict:
    """Store ``batch`` for ``environment`` in one transaction with its payload record, and
    answer once it has committed. A payload id already stored is answered ``duplicate`` and
    nothing is stored again; without an id one is made (no retry can be recognised then).
    Returns the 202 body."""
    generated = payload_id is None
    payload_id = payload_id or uuid.uuid4().hex
    now = timezone.now()
    try:
        with transaction.atomic():
            payload = IngestPayload.objects.create(
                environment=environment, payload_id=payload_id, received_at=now,
                evaluations=batch.single_evaluations, summary_counts=batch.summary_counts,
                custom_events=len(batch.events))
            env = environment.pk
            rows_insert(EvaluationEvent, EVALUATION_COLUMNS,
                        [[env, *row, now] for row in batch.evaluations])
            rows_insert(CustomEvent, CUSTOM_COLUMNS, [[env, *row, now] for row in batch.events])
    except IntegrityError:
        payload = IngestPayload.objects.filter(environment=environment,
                                               payload_id=payload_id).first()
        if payload is None:  # not the payload's uniqueness that failed
            raise
        return {"payloadId": payload_id, "duplicate": True, "accepted": _accepted(payload)}
    body = {"payloadId": payload_id, "duplicate": False, "accepted": _accepted(payload)}
    if generated:
        body["warning"] = ("no payloadId: send one (X-Payload-Id or payloadId) so that a "
                           "retried batch is not counted twice")
    return body


def analytics_rollup() -> rollups.RollupResult:
    """Roll up what arrived since the last run; then tell each organization whose events were
    counted (``metric_updated`` on its live-update channel: dashboards refresh)."""
    result = rollups.rollups_run()
    if result.organizations:
        _announce(result)
    return result


def _announce(result: rollups.RollupResult) -> None:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    totals = dict(EvaluationRollup.objects.filter(
        hour=hour, environment__project__organization_id__in=list(result.organizations))
        .values("environment__project__organization_id").annotate(n=Sum("evaluations"))
        .values_list("environment__project__organization_id", "n"))
    events = []
    for organization_id, environments in sorted(result.organizations.items()):
        events.append((organization_updates_channel(organization_id), "metric_updated", {
            "metricName": "flag_evaluations", "value": totals.get(organization_id, 0),
            "hour": hour.isoformat().replace("+00:00", "Z"),
            "environments": sorted(environments), "source": "analytics"}))
    publish_many(events)


def analytics_trim() -> dict:
    """Delete raw events (and the payload ids that dedupe them) past
    ANALYTICS_RAW_RETENTION_DAYS and rollups past ANALYTICS_ROLLUP_RETENTION_DAYS; how many of
    each."""
    now = timezone.now()
    raw_before = now - datetime.timedelta(days=settings.ANALYTICS_RAW_RETENTION_DAYS)
    rollup_before = now - datetime.timedelta(days=settings.ANALYTICS_ROLLUP_RETENTION_DAYS)
    return {
        "evaluations": EvaluationEvent.objects.filter(received_at__lt=raw_before).delete()[0],
        "events": CustomEvent.objects.filter(received_at__lt=raw_before).delete()[0],
        "payloads": IngestPayload.objects.filter(received_at__lt=raw_before).delete()[0],
        "rollups": EvaluationRollup.objects.filter(hour__lt=rollup_before).delete()[0]
        + CustomRollup.objects.filter(hour__lt=rollup_before).delete()[0]
        + ContextCount.objects.filter(period__lt=rollup_before).delete()[0],
    }
