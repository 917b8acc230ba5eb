"""SDK events as they arrive (append-only; trimmed after ANALYTICS_RAW_RETENTION_DAYS), and the
accepted payloads that make a retried batch count once."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from flags.models import Environment


class IngestPayload(models.Model):
    """One accepted batch: its id is unique per environment, stored in the transaction that
    stores its events, so a batch sent again is recognised and not stored twice."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    payload_id = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    evaluations = models.PositiveIntegerField(default=0)
    summary_counts = models.PositiveBigIntegerField(default=0)
    custom_events = models.PositiveIntegerField(default=0)
    # What the rollups need of the batch (analytics.digest), stored with it.
    digest = models.BinaryField(default=b"")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["environment", "payload_id"],
                                               name="analytics_payload_once")]

    def __str__(self):
        return f"{self.environment} {self.payload_id}"


class EvaluationEvent(models.Model):
    """A flag evaluation an SDK reported (``count`` 1), or a summary counter of many
    (``count`` n, ``timestamp`` its start, ``context_id`` empty). The flag key is kept as sent,
    known to the environment or not."""

    # No database constraint (checking it cost a lookup per row at every commit); deleting an
    # environment still deletes its rows (the ORM does, in one statement).
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+",
                                    db_index=False, db_constraint=False)
    flag_key = models.CharField(max_length=200)
    variant = models.CharField(max_length=200)
    reason = models.CharField(max_length=40)
    context_id = models.CharField(max_length=200, blank=True)
    count = models.PositiveBigIntegerField(default=1)
    value = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.flag_key}={self.variant}"


class CustomEvent(models.Model):
    """A custom event an SDK tracked (OpenFeature's Tracking API: a name, the context, a value
    and details)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+",
                                    db_index=False, db_constraint=False)
    name = models.CharField(max_length=200)
    context_id = models.CharField(max_length=200, blank=True)
    value = models.FloatField(null=True, blank=True)
    details = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.name


class EvaluationRollup(models.Model):
    """Evaluations per environment, flag, variant, reason and hour (summary counts included)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    flag_key = models.CharField(max_length=200)
    variant = models.CharField(max_length=200)
    reason = models.CharField(max_length=40)
    hour = models.DateTimeField()
    evaluations = models.PositiveBigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)  # the newest evaluation counted

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["environment", "flag_key", "variant", "reason", "hour"],
            name="analytics_eval_rollup_once")]
        indexes = [models.Index(fields=["environment", "hour"], name="analytics_eval_rollup_hour")]


class CustomRollup(models.Model):
    """Custom events per environment, name and hour: how many, and the sum of their values."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    name = models.CharField(max_length=200)
    hour = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)
    value_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["environment", "name", "hour"],
                                               name="analytics_custom_rollup_once")]


class Span(models.TextChoices):
    HOUR = "h", "hour"
    DAY = "d", "day"


class Kind(models.TextChoices):
    EVALUATION = "e", "flag evaluation"  # subject: the flag key; variant: the variant
    CUSTOM = "c", "custom event"  # subject: the event's name; variant: ""


class ContextCount(models.Model):
    """Distinct contexts per environment, subject (flag and variant, or event name) and period
    (an hour or a day). An hour keeps the set of its contexts' hashes (``members``, int64
    little-endian) while an event for it can still arrive, so new ones are added exactly."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+",
                                    db_index=False)
    kind = models.CharField(max_length=1, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    variant = models.CharField(max_length=200, blank=True)
    span = models.CharField(max_length=1, choices=Span.choices)
    period = models.DateTimeField()
    contexts = models.PositiveBigIntegerField(default=0)
    members = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["environment", "kind", "subject", "variant", "span", "period"],
            name="analytics_context_count_once")]


class RollupCursor(models.Model):
    """How far the rollups have read (``payloads``: the last payload id counted)."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)
