"""Writes of the analytics app: a batch of SDK events stored whole, once per payload id."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from flags.models import Environment
from streaming.rows import rows_insert

from .ingest import Batch
from .models import CustomEvent, EvaluationEvent, IngestPayload

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
