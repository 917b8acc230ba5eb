"""Writes of the analytics app: a batch of SDK events stored whole, once per payload id; the
rollups (analytics.rollups) and what they announce; trimming."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from flags.models import Environment
from streaming.broadcast import publish_many
from streaming.rows import rows_insert
from tenancy.channels import organization_updates_channel

from . import rollups
from .digest import digest_build
from .ingest import Batch
from .models import (
    ContextCount,
    CustomEvent,
    CustomRollup,
    EvaluationEvent,
    EvaluationRollup,
    IngestPayload,
    Span,
)

EVALUATION_COLUMNS = ["environment_id", "flag_key", "variant", "reason", "context_id", "count",
                      "value", "timestamp", "received_at"]
CUSTOM_COLUMNS = ["environment_id", "name", "context_id", "value", "details", "timestamp",
                  "received_at"]


def _accepted(evaluations: int, summary_counts: int, events: int) -> dict:
    return {"evaluations": evaluations, "summaryCounts": summary_counts, "events": events}


def events_ingest(environment: Environment, payload_id: str | None, batch: Batch) -> dict:
    """Store ``batch`` for ``environment`` in one transaction with its payload record, and
    answer once it has committed. A payload id already stored is answered ``duplicate`` and
    nothing is stored again; without an id one is made (no retry can be recognised then).
    Returns the 202 body."""
    return events_ingest_many([(environment, payload_id, batch)])[0]


def events_ingest_many(batches: list) -> list[dict]:
    """``events_ingest`` for several ``(environment, payload id, batch)`` at once (what the
    requests of one moment hand the group-commit writer, analytics.writer): one transaction,
    one statement for the payload records and one COPY per raw table; one answer each."""
    now = timezone.now()
    firsts: dict = {}  # (environment id, payload id) → the index of its first batch here
    keyed = []
    for index, (environment, payload_id, batch) in enumerate(batches):
        key = (environment.pk, payload_id or uuid.uuid4().hex)
        firsts.setdefault(key, index)
        keyed.append(key)
    with transaction.atomic():
        stored = _payloads_insert(
            [[env, payload_id, now, batches[index][2].single_evaluations,
              batches[index][2].summary_counts, len(batches[index][2].events),
              digest_build(batches[index][2].evaluations, batches[index][2].events)]
             for (env, payload_id), index in firsts.items()])
        fresh = [index for key, index in firsts.items() if key in stored]
        rows_insert(EvaluationEvent, EVALUATION_COLUMNS,
                    [[keyed[i][0], *row, now] for i in fresh for row in batches[i][2].evaluations])
        rows_insert(CustomEvent, CUSTOM_COLUMNS,
                    [[keyed[i][0], *row, now] for i in fresh for row in batches[i][2].events])
    fresh_set = set(fresh)
    earlier = _payloads_get([key for i, key in enumerate(keyed) if i not in fresh_set])
    answers = []
    for index, ((env, payload_id), (_, sent_id, batch)) in enumerate(zip(keyed, batches)):
        if index in fresh_set:
            body = {"payloadId": payload_id, "duplicate": False, "accepted": _accepted(
                batch.single_evaluations, batch.summary_counts, len(batch.events))}
            if sent_id is None:
                body["warning"] = ("no payloadId: send one (X-Payload-Id or payloadId) so that "
                                   "a retried batch is not counted twice")
        else:
            body = {"payloadId": payload_id, "duplicate": True,
                    "accepted": _accepted(*earlier[(env, payload_id)])}
        answers.append(body)
    return answers


PAYLOAD_COLUMNS = ["environment_id", "payload_id", "received_at", "evaluations",
                   "summary_counts", "custom_events", "digest"]


def _payloads_insert(rows: list) -> set:
    """Insert payload records, skipping ids already stored; the (environment id, payload id)
    of those inserted."""
    ops = connection.ops
    table = ops.quote_name(IngestPayload._meta.db_table)
    names = ", ".join(ops.quote_name(c) for c in PAYLOAD_COLUMNS)
    inserted = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):  # under SQLite's limit on parameters
            part = rows[start:start + 500]
            values = ", ".join(["(" + ", ".join(["%s"] * len(PAYLOAD_COLUMNS)) + ")"] * len(part))
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {values} ON CONFLICT (environment_id, "
                f"payload_id) DO NOTHING RETURNING environment_id, payload_id",
                [ops.adapt_datetimefield_value(v) if i == 2 else v
                 for row in part for i, v in enumerate(row)])
            inserted.update((env, payload_id) for env, payload_id in cursor.fetchall())
    return inserted


def _payloads_get(keys: list) -> dict:
    """(environment id, payload id) → what the stored payload accepted, for ``keys``."""
    found = {}
    for env in {env for env, _ in keys}:
        ids = [payload_id for e, payload_id in keys if e == env]
        for payload_id, n, summary, events in IngestPayload.objects.filter(
                environment_id=env, payload_id__in=ids).values_list(
                "payload_id", "evaluations", "summary_counts", "custom_events"):
            found[(env, payload_id)] = (n, summary, events)
    return found


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
    # An hour's context set is needed while an event for its day can arrive.
    ContextCount.objects.filter(span=Span.HOUR, period__lt=raw_before - datetime.timedelta(
        days=1)).exclude(members=b"").update(members=b"")
    return {
        "evaluations": EvaluationEvent.objects.filter(received_at__lt=raw_before).delete()[0],
        "events": CustomEvent.objects.filter(received_at__lt=raw_before).delete()[0],
        "payloads": IngestPayload.objects.filter(received_at__lt=raw_before).delete()[0],
        "rollups": EvaluationRollup.objects.filter(hour__lt=rollup_before).delete()[0]
        + CustomRollup.objects.filter(hour__lt=rollup_before).delete()[0]
        + ContextCount.objects.filter(period__lt=rollup_before).delete()[0],
    }
