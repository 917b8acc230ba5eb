"""Rollups of the raw SDK events, in SQL: per environment, flag, variant, reason and hour the
evaluations; per environment, name and hour the custom events' count and value sum; per hour
and per day the distinct contexts of each flag variant and event name.

**Incremental**: each run reads only the raw rows after its cursor (RollupCursor, the last id
counted) and adds them to the rollups (``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE``).
Distinct contexts stay exact because a period the new rows touch is recounted
(``COUNT(DISTINCT)``) from all its raw rows, which are kept as long as an event for it can
still arrive (ANALYTICS_RAW_RETENTION_DAYS). **Idempotent**: the cursor moves
in the transaction that adds the rows, so a run repeated, or two at once, count nothing twice.
Rows are read up to the newest one received ANALYTICS_ROLLUP_SETTLE_SECONDS ago: an id is
taken when a row is inserted, so a batch still committing could otherwise land behind the
cursor and be missed.

``rollups_rebuild(since)`` (``manage.py rollup_analytics --since``) recounts every hour from
``since`` from the raw rows still kept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import (
    ContextCount,
    CustomEvent,
    CustomRollup,
    EvaluationEvent,
    EvaluationRollup,
    RollupCursor,
)

EVALUATIONS, CUSTOM = "evaluations", "custom"
TS = '"timestamp"'  # a column named like a type: quoted in every SQL here


def period(column: str, span: str) -> str:
    """SQL for the start of the hour (``h``) or day (``d``) of a UTC timestamp column."""
    if connection.vendor == "postgresql":
        return f"date_trunc('{'hour' if span == 'h' else 'day'}', {column})"
    # SQLite keeps UTC datetimes as text: cut it to the hour or the day, same format.
    return f"strftime('{'%%Y-%%m-%%d %%H:00:00' if span == 'h' else '%%Y-%%m-%%d 00:00:00'}', " \
           f"{column})"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass
class RollupResult:
    evaluation_rows: int = 0  # raw rows counted this run
    custom_rows: int = 0
    organizations: dict = field(default_factory=dict)  # organization id → environments touched

    @property
    def rows(self) -> int:
        return self.evaluation_rows + self.custom_rows


def _range(cursor_name: str, model, settle_before) -> tuple[int, int]:
    """(last id counted, newest id to count now) for ``model``, its cursor row locked."""
    RollupCursor.objects.get_or_create(name=cursor_name)
    # Writing first takes the lock at once (SQLite: the write lock; PostgreSQL: the row's), so
    # a second run waits here and then reads the cursor the first one moved.
    RollupCursor.objects.filter(name=cursor_name).update(updated=timezone.now())
    low = RollupCursor.objects.get(name=cursor_name).last_id
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {_table(model)} WHERE id > %s AND received_at < %s",
                       [low, settle_before])
        high = cursor.fetchone()[0]
    return low, high or low


def _evaluations(low: int, high: int, hour_from=None, day_from=None) -> None:
    """Add raw evaluations (low, high] (only those from ``hour_from`` to the hourly figures
    and from ``day_from`` to the daily ones, when given: a rebuild)."""
    raw, q = _table(EvaluationEvent), connection.ops.quote_name
    hour = period(TS, "h")
    since, extra = _since(hour_from)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(EvaluationRollup)} (environment_id, flag_key, variant, reason, "
            f"hour, evaluations) SELECT environment_id, flag_key, variant, reason, {hour}, "
            f"SUM({q('count')}) FROM {raw} WHERE id > %s AND id <= %s{since} "
            f"GROUP BY environment_id, flag_key, variant, reason, {hour} "
            f"ON CONFLICT (environment_id, flag_key, variant, reason, hour) DO UPDATE SET "
            f"evaluations = {_table(EvaluationRollup)}.evaluations + excluded.evaluations",
            [low, high, *extra])
    _contexts(raw, "e", "flag_key", "variant", "h", low, high, hour_from)
    _contexts(raw, "e", "flag_key", "variant", "d", low, high, day_from)


def _custom(low: int, high: int, hour_from=None, day_from=None) -> None:
    raw, q = _table(CustomEvent), connection.ops.quote_name
    hour, rollup = period(TS, "h"), _table(CustomRollup)
    since, extra = _since(hour_from)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {rollup} (environment_id, name, hour, {q('count')}, value_sum) "
            f"SELECT environment_id, name, {hour}, COUNT(*), COALESCE(SUM(value), 0) "
            f"FROM {raw} WHERE id > %s AND id <= %s{since} "
            f"GROUP BY environment_id, name, {hour} "
            f"ON CONFLICT (environment_id, name, hour) DO UPDATE SET "
            f"{q('count')} = {rollup}.{q('count')} + excluded.{q('count')}, "
            f"value_sum = {rollup}.value_sum + excluded.value_sum",
            [low, high, *extra])
    _contexts(raw, "c", "name", "''", "h", low, high, hour_from)
    _contexts(raw, "c", "name", "''", "d", low, high, day_from)


def _param(moment):
    """A datetime as the database compares it with a stored one (SQLite: UTC text)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _since(moment) -> tuple[str, list]:
    return ("", []) if moment is None else (f" AND {TS} >= %s", [_param(moment)])


def _period_start(value, span: str) -> datetime.datetime:
    if isinstance(value, str):  # SQLite hands back the stored text
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)
    value = value.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if span == "d" else value


def _contexts(raw: str, kind: str, subject: str, variant: str, span: str, low: int,
              high: int, moment=None) -> None:
    """Recount the distinct contexts of every period (an hour or a day) that raw rows
    (low, high] (from ``moment``) fall in, from all the raw rows of those periods.

    Raw rows are kept as long as an event for a period can still arrive, so the count is
    exact; a period whose oldest rows were already trimmed keeps the larger count it had."""
    when = period(TS, span)
    since, extra = _since(moment)
    counts = _table(ContextCount)
    # A constant variant (custom events: '') is not grouped by (PostgreSQL refuses it).
    group = ", ".join(["environment_id", subject] + ([variant] if variant != "''" else [])
                      + [when])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN({TS}), MAX({TS}) FROM {raw} WHERE id > %s AND id <= %s "
                       f"AND context_id <> ''{since}", [low, high, *extra])
        first, last = cursor.fetchone()
        if first is None:
            return
        start = _period_start(first, span)
        end = _period_start(last, span) + (datetime.timedelta(days=1) if span == "d"
                                           else datetime.timedelta(hours=1))
        cursor.execute(
            f"INSERT INTO {counts} (environment_id, kind, subject, variant, span, period, "
            f"contexts) SELECT environment_id, %s, {subject}, {variant}, %s, {when}, "
            f"COUNT(DISTINCT context_id) FROM {raw} WHERE {TS} >= %s AND {TS} < %s "
            f"AND context_id <> '' AND (environment_id, {subject}, {variant}, {when}) IN ("
            f"SELECT DISTINCT environment_id, {subject}, {variant}, {when} FROM {raw} "
            f"WHERE id > %s AND id <= %s AND context_id <> ''{since}) "
            f"GROUP BY {group} "
            f"ON CONFLICT (environment_id, kind, subject, variant, span, period) DO UPDATE SET "
            f"contexts = CASE WHEN excluded.contexts > {counts}.contexts "
            f"THEN excluded.contexts ELSE {counts}.contexts END",
            [kind, span, _param(start), _param(end), low, high, *extra])


def _touched(model, low: int, high: int) -> tuple[dict, int]:
    """(organization id → {environment ids}, how many rows) of raw rows (low, high]."""
    out: dict[int, set] = {}
    rows = 0
    for organization, environment, n in (
            model.objects.filter(id__gt=low, id__lte=high)
            .values("environment__project__organization_id", "environment_id")
            .annotate(n=Count("id"))
            .values_list("environment__project__organization_id", "environment_id", "n")):
        out.setdefault(organization, set()).add(environment)
        rows += n
    return out, rows


# Each raw table: its cursor's name, its model, how its rows are added, the result's field.
TABLES = ((EVALUATIONS, EvaluationEvent, _evaluations, "evaluation_rows"),
          (CUSTOM, CustomEvent, _custom, "custom_rows"))


def rollups_run() -> RollupResult:
    """Add the raw rows received since the last run to the rollups (one transaction)."""
    settle_before = timezone.now() - datetime.timedelta(
        seconds=settings.ANALYTICS_ROLLUP_SETTLE_SECONDS)
    result = RollupResult()
    with transaction.atomic():
        for name, model, add, field_name in TABLES:
            low, high = _range(name, model, settle_before)
            if high <= low:
                continue
            add(low, high)
            touched, rows = _touched(model, low, high)
            for organization, environments in touched.items():
                result.organizations.setdefault(organization, set()).update(environments)
            RollupCursor.objects.filter(name=name).update(last_id=high)
            setattr(result, field_name, rows)
    return result


def rollups_rebuild(since: datetime.datetime) -> RollupResult:
    """Recount from the raw rows still kept: the hourly figures from ``since``'s hour, the
    daily distinct contexts from its day; later runs carry on from there."""
    hour = since.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    result = RollupResult()
    with transaction.atomic():
        for name in (EVALUATIONS, CUSTOM):  # locked, as a run would
            RollupCursor.objects.get_or_create(name=name)
            RollupCursor.objects.filter(name=name).update(updated=timezone.now())
        EvaluationRollup.objects.filter(hour__gte=hour).delete()
        CustomRollup.objects.filter(hour__gte=hour).delete()
        for span, start in (("h", hour), ("d", day)):
            ContextCount.objects.filter(span=span, period__gte=start).delete()
        for name, model, add, field_name in TABLES:
            high = model.objects.order_by("-id").values_list("id", flat=True).first() or 0
            add(0, high, hour, day)
            RollupCursor.objects.filter(name=name).update(last_id=high)
            setattr(result, field_name, model.objects.filter(timestamp__gte=day).count())
    return result
