"""The analytics dashboard API, ``/api/projects/<projectKey>/analytics/…``: a user JWT or a
staff session, viewer role on the project's organization (as the management API).

Common query parameters: ``environment`` (a key; all the project's environments when left out,
except for a flag's series, which needs one), ``from`` and ``to`` (ISO 8601, UTC when no zone;
default the last 7 days for hours, 30 for days; at most ANALYTICS_ROLLUP_RETENTION_DAYS),
``interval`` (``hour`` or ``day``).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from flags import selectors as flag_selectors
from flags.models import Environment

from .. import selectors

PARAMS = [OpenApiParameter("environment", str, description="environment key"),
          OpenApiParameter("from", str, description="ISO 8601 (default: 7 days ago)"),
          OpenApiParameter("to", str, description="ISO 8601 (default: now)"),
          OpenApiParameter("interval", str, enum=["hour", "day"])]
MAX_HOURS = 31 * 24  # points in an hourly series


def _moment(request, name: str):
    raw = request.query_params.get(name)
    if raw is None:
        return None
    moment = parse_datetime(raw)
    if moment is None and parse_date(raw) is not None:
        moment = datetime.datetime.combine(parse_date(raw), datetime.time())
    if moment is None:
        raise ValidationError({name: ["must be ISO 8601: 2026-11-20 or 2026-11-20T06:00Z"]})
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=datetime.UTC)


def _interval(request) -> str:
    interval = request.query_params.get("interval", "hour")
    if interval not in ("hour", "day"):
        raise ValidationError({"interval": ["must be hour or day"]})
    return interval


def _range(request, interval: str):
    now = timezone.now()
    end = _moment(request, "to") or now
    start = _moment(request, "from") or end - datetime.timedelta(
        days=30 if interval == "day" else 7)
    if start >= end:
        raise ValidationError({"from": ["must be before to"]})
    if end - start > datetime.timedelta(days=settings.ANALYTICS_ROLLUP_RETENTION_DAYS):
        raise ValidationError({"from": [f"the range is at most "
                                        f"{settings.ANALYTICS_ROLLUP_RETENTION_DAYS} days"]})
    if interval == "hour" and end - start > datetime.timedelta(hours=MAX_HOURS):
        raise ValidationError({"interval": [f"hourly series cover at most {MAX_HOURS // 24} "
                                            "days: ask for interval=day"]})
    if interval == "day":
        start = start.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
    return start, end


class AnalyticsView(APIView):
    def project(self):
        return flag_selectors.project_get_for_user(
            self.request.user, self.kwargs["project"],
            organization=self.request.query_params.get("organization"))

    def environments(self, project, *, required: bool = False) -> list[Environment]:
        key = self.request.query_params.get("environment")
        if key is None:
            if required:
                raise ValidationError({"environment": ["is required: an environment key"]})
            return list(Environment.objects.filter(project=project).order_by("id"))
        return [flag_selectors.environment_get(project, key)]


class FlagEvaluationsView(AnalyticsView):
    @extend_schema(parameters=PARAMS, responses=dict, summary="A flag's evaluations and "
                   "distinct contexts per variant, hour by hour or day by day, with its changes")
    def get(self, request, project, flag):
        project_obj = self.project()
        environment = self.environments(project_obj, required=True)[0]
        interval = _interval(request)
        start, end = _range(request, interval)
        body = selectors.evaluation_series(environment, flag, start, end, interval)
        known = project_obj.flags.filter(key=flag).exists()
        if not known and not body["variants"]:
            raise Http404("no such flag, and no evaluations of that key")
        body["known"] = known
        return Response(body)


SORTS = {"evaluations": lambda r: (r["evaluations"], r["flagKey"]),
         "lastEvaluated": lambda r: (r["lastEvaluated"] or "", r["flagKey"]),
         "flagKey": lambda r: (r["flagKey"], r["environment"])}


class FlagSummaryView(AnalyticsView):
    @extend_schema(parameters=[*PARAMS, OpenApiParameter(
        "sort", str, description="evaluations, lastEvaluated or flagKey; -name: descending")],
        responses=dict, summary="Every flag: evaluations, last evaluated, variants served")
    def get(self, request, project):
        project_obj = self.project()
        sort = request.query_params.get("sort", "-evaluations")
        if sort.lstrip("-") not in SORTS:
            raise ValidationError({"sort": [f"must be one of {', '.join(SORTS)} "
                                            "(a leading - for descending)"]})
        start, end = _range(request, "hour" if "interval" not in request.query_params
                            else _interval(request))
        rows = selectors.flag_summaries(project_obj, self.environments(project_obj), start, end)
        rows.sort(key=SORTS[sort.lstrip("-")], reverse=sort.startswith("-"))
        return Response({"from": selectors._iso(start), "to": selectors._iso(end),
                         "flags": rows})


class StaleFlagsView(AnalyticsView):
    @extend_schema(parameters=[OpenApiParameter("days", int), PARAMS[0]], responses=dict,
                   summary="Flags neither evaluated nor changed for N days, per environment")
    def get(self, request, project):
        raw = request.query_params.get("days", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= settings.ANALYTICS_ROLLUP_RETENTION_DAYS:
            raise ValidationError({"days": [
                f"must be a whole number from 1 to {settings.ANALYTICS_ROLLUP_RETENTION_DAYS}"]})
        project_obj = self.project()
        return Response({"days": int(raw), "environments": selectors.stale_flags(
            project_obj, self.environments(project_obj), int(raw), timezone.now())})


class CustomEventsView(AnalyticsView):
    @extend_schema(parameters=PARAMS, responses=dict,
                   summary="A custom event's count, value sum and distinct contexts over time")
    def get(self, request, project, name):
        project_obj = self.project()
        interval = _interval(request)
        start, end = _range(request, interval)
        return Response(selectors.custom_series(self.environments(project_obj), name, start,
                                                end, interval))


class UnknownFlagsView(AnalyticsView):
    @extend_schema(parameters=PARAMS[:3], responses=dict,
                   summary="Flag keys SDKs evaluated that are not flags of the project")
    def get(self, request, project):
        project_obj = self.project()
        start, end = _range(request, "day")
        return Response({"from": selectors._iso(start), "to": selectors._iso(end),
                         "flags": selectors.unknown_flags(
                             project_obj, self.environments(project_obj), start, end)})
