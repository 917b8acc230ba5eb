"""Rollups of the SDK events: per environment, flag, variant, reason and hour the evaluations;
per environment, name and hour the custom events' count and value sum; per hour and per day
the distinct contexts of each flag variant and event name.

They are made from the batches' digests (analytics.digest), stored at ingest with each
accepted payload in the transaction that stored its raw rows.

**Incremental**: a run reads the payloads after its cursor (RollupCursor ``payloads``, the last
payload id counted) and adds their digests to the rollups: the cost is the new batches, plus
reading the context sets of the hours they touch and of those hours' days. **Exact** distinct
contexts: each hour's set of context hashes is kept (``ContextCount.members``) as long as an
event for that hour can still arrive (ANALYTICS_RAW_RETENTION_DAYS and a day), so a new batch
adds only the contexts the hour had not seen, and a day's count is the union of its hours.
**Idempotent**: the cursor moves in the transaction that adds the batches, so a run repeated,
or two at once, count nothing twice. Payloads are read up to the newest one received
ANALYTICS_ROLLUP_SETTLE_SECONDS ago: an id is taken when a row is inserted, so a batch still
committing could otherwise land behind the cursor and be missed.

``rollups_rebuild(since)`` (``manage.py rollup_analytics --since``) recounts every day from
``since``'s from the payloads still kept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from flags.models import Environment
from streaming.rows import rows_insert, rows_upsert

from .digest import digest_read
from .models import (
    ContextCount,
    CustomRollup,
    EvaluationRollup,
    IngestPayload,
    RollupCursor,
    Span,
)

CURSOR = "payloads"
DAY = 86_400
EMPTY = np.empty(0, dtype="<i8")
CONTEXT_COLUMNS = ["environment_id", "kind", "subject", "variant", "span", "period", "contexts",
                   "members"]


@dataclass
class RollupResult:
    evaluation_rows: int = 0  # raw rows counted this run
    custom_rows: int = 0
    organizations: dict = field(default_factory=dict)  # organization id → environments touched

    @property
    def rows(self) -> int:
        return self.evaluation_rows + self.custom_rows


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _moment(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _seconds(moment) -> int:
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


@dataclass
class Merged:
    """What a run's payloads add up to, keyed with the environment and the hour in seconds."""

    # (env, flag, variant, reason, hour) → [n, newest evaluation (seconds)]
    evaluations: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)  # (env, name, hour) → [count, sum]
    contexts: dict = field(default_factory=dict)  # (env, kind, subject, variant, hour) → [arrays]
    environments: set = field(default_factory=set)
    evaluation_rows: int = 0
    custom_rows: int = 0


def _merge(payloads, since: int | None = None) -> Merged:
    """Add up the digests of ``payloads`` ((environment id, digest) pairs), keeping only hours
    from ``since`` when given (a rebuild)."""
    merged = Merged()
    evaluations, custom, contexts = merged.evaluations, merged.custom, merged.contexts
    for env, blob in payloads:
        digest = digest_read(blob)
        if digest is None:
            continue
        merged.environments.add(env)
        merged.evaluation_rows += digest.rows[0]
        merged.custom_rows += digest.rows[1]
        for flag, variant, reason, hour, n, *newest in digest.evaluations:
            newest = newest[0] if newest else hour  # a first digest had no newest time
            if since is None or hour >= since:
                key = (env, flag, variant, reason, hour)
                total = evaluations.get(key)
                if total is None:
                    evaluations[key] = [n, newest]
                else:
                    total[0] += n
                    total[1] = max(total[1], newest)
        for name, hour, n, total in digest.custom:
            if since is None or hour >= since:
                sums = custom.get((env, name, hour))
                if sums is None:
                    custom[(env, name, hour)] = [n, total]
                else:
                    sums[0] += n
                    sums[1] += total
        for kind, subject, variant, hour, hashes in digest.contexts:
            if since is None or hour >= since:
                parts = contexts.get((env, kind, subject, variant, hour))
                if parts is None:
                    contexts[(env, kind, subject, variant, hour)] = [hashes]
                else:
                    parts.append(hashes)
    return merged


def _add_evaluations(merged: Merged) -> None:
    table = _table(EvaluationRollup)
    rows_upsert(EvaluationRollup, ["environment_id", "flag_key", "variant", "reason", "hour",
                                   "evaluations", "last_at"],
                [[env, flag, variant, reason, _moment(hour), n, _moment(newest)]
                 for (env, flag, variant, reason, hour), (n, newest)
                 in merged.evaluations.items()],
                unique=["environment_id", "flag_key", "variant", "reason", "hour"],
                update={"evaluations": f"{table}.evaluations + excluded.evaluations",
                        "last_at": f"CASE WHEN {table}.last_at IS NULL OR excluded.last_at > "
                                   f"{table}.last_at THEN excluded.last_at ELSE {table}.last_at "
                                   "END"})


def _add_custom(merged: Merged) -> None:
    table, count = _table(CustomRollup), connection.ops.quote_name("count")
    rows_upsert(CustomRollup, ["environment_id", "name", "hour", "count", "value_sum"],
                [[env, name, _moment(hour), n, total]
                 for (env, name, hour), (n, total) in merged.custom.items()],
                unique=["environment_id", "name", "hour"],
                update={"count": f"{table}.{count} + excluded.{count}",
                        "value_sum": f"{table}.value_sum + excluded.value_sum"})


def _distinct(hashes: np.ndarray) -> np.ndarray:
    """The distinct values of ``hashes``, sorted (several times faster than ``np.unique`` for
    the arrays here)."""
    hashes = np.sort(hashes)
    if len(hashes) < 2:
        return hashes
    keep = np.empty(len(hashes), dtype=bool)
    keep[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=keep[1:])
    return hashes[keep]


def _add_contexts(merged: Merged) -> None:
    """Union each touched hour's new context hashes with the ones it has; recount the hours
    and their days (a day: the union of its hours' sets)."""
    if not merged.contexts:
        return
    days = {(env, kind, subject, variant, hour - hour % DAY)
            for env, kind, subject, variant, hour in merged.contexts}
    envs = {key[0] for key in days}
    every_hour = [_moment(day + n * 3600) for day in {key[4] for key in days} for n in range(24)]
    # Every stored hour of the touched days: the touched hours' members to add to, the others'
    # for their days' unions.
    stored: dict = {}
    for env, kind, subject, variant, period, n, members in ContextCount.objects.filter(
            span=Span.HOUR, environment_id__in=envs, period__in=every_hour).values_list(
            "environment_id", "kind", "subject", "variant", "period", "contexts", "members"):
        hour = _seconds(period)
        if (env, kind, subject, variant, hour - hour % DAY) in days:
            stored[(env, kind, subject, variant, hour)] = (
                n, np.frombuffer(bytes(members), dtype="<i8") if members else EMPTY)
    new, changed = [], []  # ContextCount rows (CONTEXT_COLUMNS) to insert, to update
    day_parts: dict = {}
    for key, parts in merged.contexts.items():
        found = stored.pop(key, None)
        before, members = found or (0, EMPTY)
        union = _distinct(np.concatenate([members, *parts]))
        env, kind, subject, variant, hour = key
        day_parts.setdefault((env, kind, subject, variant, hour - hour % DAY), []).append(union)
        # Never below what was counted before: a set emptied by the trim keeps its count.
        (changed if found else new).append([env, kind, subject, variant, Span.HOUR,
                                            _moment(hour), max(before, len(union)),
                                            union.tobytes()])
    for (env, kind, subject, variant, hour), (_n, members) in stored.items():
        day_parts.setdefault((env, kind, subject, variant, hour - hour % DAY), []).append(members)
    day_before = {(env, kind, subject, variant, _seconds(period)): n
                  for env, kind, subject, variant, period, n in ContextCount.objects.filter(
                      span=Span.DAY, environment_id__in=envs,
                      period__in=sorted({_moment(key[4]) for key in days})).values_list(
                      "environment_id", "kind", "subject", "variant", "period", "contexts")}
    for key, parts in day_parts.items():
        env, kind, subject, variant, day = key
        count = len(_distinct(np.concatenate(parts))) if len(parts) > 1 else len(parts[0])
        (changed if key in day_before else new).append(
            [env, kind, subject, variant, Span.DAY, _moment(day),
             max(day_before.get(key, 0), count), b""])
    # Rows not there yet (most of a large backlog's) go in by COPY; the others are updated.
    rows_insert(ContextCount, CONTEXT_COLUMNS, new)
    rows_upsert(ContextCount, CONTEXT_COLUMNS, changed, unique=CONTEXT_COLUMNS[:6],
                update={"contexts": "excluded.contexts", "members": "excluded.members"})


def _apply(merged: Merged, result: RollupResult) -> None:
    _add_evaluations(merged)
    _add_custom(merged)
    _add_contexts(merged)
    result.evaluation_rows += merged.evaluation_rows
    result.custom_rows += merged.custom_rows
    for env, organization in Environment.objects.filter(pk__in=merged.environments) \
            .values_list("pk", "project__organization_id"):
        result.organizations.setdefault(organization, set()).add(env)


def _lock_cursor() -> int:
    """The last payload id counted, with the cursor's row locked until the transaction ends."""
    RollupCursor.objects.get_or_create(name=CURSOR)
    # Writing first takes the lock at once (SQLite: the write lock; PostgreSQL: the row's), so
    # a second run waits here and then reads the cursor the first one moved.
    RollupCursor.objects.filter(name=CURSOR).update(updated=timezone.now())
    return RollupCursor.objects.get(name=CURSOR).last_id


def rollups_run() -> RollupResult:
    """Add the payloads received since the last run to the rollups (a transaction for every
    ANALYTICS_ROLLUP_CHUNK payloads)."""
    chunk_size = settings.ANALYTICS_ROLLUP_CHUNK
    settle_before = timezone.now() - datetime.timedelta(
        seconds=settings.ANALYTICS_ROLLUP_SETTLE_SECONDS)
    result = RollupResult()
    while True:
        with transaction.atomic():
            low = _lock_cursor()
            high = IngestPayload.objects.filter(id__gt=low, received_at__lt=settle_before) \
                .order_by("-id").values_list("id", flat=True).first()
            if high is None:
                return result
            chunk = list(IngestPayload.objects.filter(id__gt=low, id__lte=high)
                         .order_by("id").values_list("id", "environment_id", "digest")[:chunk_size])
            _apply(_merge((env, blob) for _, env, blob in chunk), result)
            RollupCursor.objects.filter(name=CURSOR).update(last_id=chunk[-1][0])
        if len(chunk) < chunk_size:
            return result


def rollups_rebuild(since: datetime.datetime) -> RollupResult:
    """Recount every day from ``since``'s (UTC) from the payloads still kept; later runs carry
    on from there."""
    day = since.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    result = RollupResult()
    with transaction.atomic():
        _lock_cursor()
        EvaluationRollup.objects.filter(hour__gte=day).delete()
        CustomRollup.objects.filter(hour__gte=day).delete()
        ContextCount.objects.filter(period__gte=day).delete()
        high = IngestPayload.objects.order_by("-id").values_list("id", flat=True).first() or 0
        low = 0
        while low < high:
            chunk = list(IngestPayload.objects.filter(id__gt=low, id__lte=high)
                         .order_by("id").values_list("id", "environment_id", "digest")
                         [:settings.ANALYTICS_ROLLUP_CHUNK])
            _apply(_merge(((env, blob) for _, env, blob in chunk), _seconds(day)), result)
            low = chunk[-1][0]
        RollupCursor.objects.filter(name=CURSOR).update(last_id=high)
    return result
