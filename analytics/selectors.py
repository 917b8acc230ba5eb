"""Reads for the analytics dashboards, from the rollups."""

from __future__ import annotations

import datetime

from django.db.models import Max, Sum
from django.db.models.functions import Coalesce, TruncDay

from flags.models import AuditLog, Environment, Flag, Project

from .models import ContextCount, CustomRollup, EvaluationRollup, Kind, Span


def _iso(moment) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def evaluation_series(environment: Environment, flag_key: str, start, end,
                      interval: str) -> dict:
    """Per variant, per hour or day in [start, end): evaluations and distinct contexts; the
    flag's changes in the environment over the same range."""
    rows = EvaluationRollup.objects.filter(environment=environment, flag_key=flag_key,
                                           hour__gte=start, hour__lt=end)
    if interval == "day":
        grouped = rows.annotate(time=TruncDay("hour")).values("variant", "time")
    else:
        grouped = rows.values("variant", "hour")
    counts: dict[str, dict] = {}
    for row in grouped.annotate(n=Sum("evaluations")).order_by():
        time = row["time"] if interval == "day" else row["hour"]
        counts.setdefault(row["variant"], {})[time] = row["n"]
    span = Span.DAY if interval == "day" else Span.HOUR
    day_start = start.replace(hour=0) if interval == "day" else start
    contexts: dict[str, dict] = {}
    for variant, period, n in ContextCount.objects.filter(
            environment=environment, kind=Kind.EVALUATION, subject=flag_key, span=span,
            period__gte=day_start, period__lt=end).values_list("variant", "period", "contexts"):
        contexts.setdefault(variant, {})[period] = n
    variants = {}
    for variant in sorted(set(counts) | set(contexts)):
        times = sorted(set(counts.get(variant, {})) | set(contexts.get(variant, {})))
        variants[variant] = [{"time": _iso(t), "evaluations": counts.get(variant, {}).get(t, 0),
                              "contexts": contexts.get(variant, {}).get(t, 0)} for t in times]
    changes = AuditLog.objects.filter(environment=environment, subject=flag_key,
                                      created_at__gte=start, created_at__lt=end) \
        .order_by("created_at")
    return {"flagKey": flag_key, "environment": environment.key, "interval": interval,
            "from": _iso(start), "to": _iso(end), "variants": variants,
            "totals": {v: sum(p["evaluations"] for p in points) for v, points in variants.items()},
            "changes": [{"time": _iso(c.created_at), "action": c.action, "source": c.source,
                         "actor": c.actor_label} for c in changes[:500]]}


def flag_summaries(project: Project, environments: list[Environment], start, end) -> list[dict]:
    """Every flag of the project with its evaluations in [start, end), when it was last
    evaluated and the variants served, per environment given."""
    keys = list(Flag.objects.filter(project=project).order_by("key")
                .values_list("key", flat=True))
    env_ids = [e.pk for e in environments]
    served: dict[tuple, dict] = {}
    for env, key, variant, n in (EvaluationRollup.objects.filter(
            environment_id__in=env_ids, flag_key__in=keys, hour__gte=start, hour__lt=end)
            .values("environment_id", "flag_key", "variant").annotate(n=Sum("evaluations"))
            .values_list("environment_id", "flag_key", "variant", "n")):
        served.setdefault((env, key), {})[variant] = n
    last = _last_evaluated(env_ids, keys)
    names = {e.pk: e.key for e in environments}
    out = []
    for key in keys:
        for env in env_ids:
            variants = served.get((env, key), {})
            out.append({"flagKey": key, "environment": names[env],
                        "evaluations": sum(variants.values()), "variants": variants,
                        "lastEvaluated": _iso(last.get((env, key)))})
    return out


def _last_evaluated(env_ids, keys) -> dict:
    """(environment id, flag key) → the newest evaluation rolled up."""
    return {(e, k): t for e, k, t in EvaluationRollup.objects.filter(
        environment_id__in=env_ids, flag_key__in=keys, evaluations__gt=0)
        .values("environment_id", "flag_key").annotate(t=Max(Coalesce("last_at", "hour")))
        .values_list("environment_id", "flag_key", "t")}


def stale_flags(project: Project, environments: list[Environment], days: int, now) -> list:
    """Per environment, the flags neither evaluated nor changed for ``days`` days."""
    since = now - datetime.timedelta(days=days)
    flags = list(Flag.objects.filter(project=project).order_by("key"))
    keys = [f.key for f in flags]
    env_ids = [e.pk for e in environments]
    last = _last_evaluated(env_ids, keys)
    changed = {(e, k): t for e, k, t in AuditLog.objects.filter(
        project=project, subject__in=keys).exclude(environment=None)
        .values("environment_id", "subject").annotate(t=Max("created_at"))
        .values_list("environment_id", "subject", "t")}
    out = []
    for environment in environments:
        stale = []
        for flag in flags:
            evaluated = last.get((environment.pk, flag.key))
            change = changed.get((environment.pk, flag.key)) or flag.created_at
            if (evaluated is None or evaluated < since) and change < since:
                stale.append({"flagKey": flag.key, "lastEvaluated": _iso(evaluated),
                              "lastChanged": _iso(change)})
        out.append({"environment": environment.key, "flags": stale})
    return out


def custom_series(environments: list[Environment], name: str, start, end,
                  interval: str) -> dict:
    rows = CustomRollup.objects.filter(environment__in=environments, name=name,
                                       hour__gte=start, hour__lt=end)
    if interval == "day":
        rows = rows.annotate(time=TruncDay("hour")).values("time")
    else:
        rows = rows.values("hour")
    points: dict = {}
    for row in rows.annotate(n=Sum("count"), total=Sum("value_sum")).order_by():
        time = row.get("time") or row.get("hour")
        points[time] = {"count": row["n"], "sum": row["total"]}
    span = Span.DAY if interval == "day" else Span.HOUR
    for period, n in ContextCount.objects.filter(
            environment__in=environments, kind=Kind.CUSTOM, subject=name, span=span,
            period__gte=start.replace(hour=0) if interval == "day" else start,
            period__lt=end).values("period").annotate(n=Sum("contexts")) \
            .values_list("period", "n"):
        points.setdefault(period, {"count": 0, "sum": 0.0})["contexts"] = n
    return {"name": name, "interval": interval, "from": _iso(start), "to": _iso(end),
            "points": [{"time": _iso(t), "count": p["count"], "sum": p["sum"],
                        "contexts": p.get("contexts", 0)} for t, p in sorted(points.items())]}


def unknown_flags(project: Project, environments: list[Environment], start, end) -> list:
    """Flag keys SDKs reported that are not flags of the project."""
    keys = set(Flag.objects.filter(project=project).values_list("key", flat=True))
    names = {e.pk: e.key for e in environments}
    rows = (EvaluationRollup.objects.filter(environment__in=environments, hour__gte=start,
                                            hour__lt=end).exclude(flag_key__in=keys)
            .values("environment_id", "flag_key")
            .annotate(n=Sum("evaluations"), last=Max("hour")).order_by("-n"))
    return [{"flagKey": r["flag_key"], "environment": names[r["environment_id"]],
             "evaluations": r["n"], "lastSeenHour": _iso(r["last"])} for r in rows]
