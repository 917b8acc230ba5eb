"""``manage.py rollup_analytics [--since 2026-11-20T00:00]``: roll up now what arrived, or
recount every day from a moment's on (backfill, or after a fix), from the payloads kept (their
digests: analytics.digest)."""

from __future__ import annotations

import datetime
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from analytics import rollups, services


class Command(BaseCommand):
    help = "Roll up SDK analytics events now, or recount from --since."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="recount every day from this moment's (ISO 8601 "
                                            "date or date-time, UTC when no zone)")

    def handle(self, *args, since=None, **options):
        started = time.monotonic()
        if since is None:
            result = services.analytics_rollup()
            verb = "rolled up"
        else:
            moment = parse_datetime(since)
            if moment is None and parse_date(since) is not None:
                moment = datetime.datetime.combine(parse_date(since), datetime.time())
            if moment is None:
                raise CommandError(f"--since {since!r}: not a date or date-time "
                                   "(2026-11-20 or 2026-11-20T06:00)")
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=datetime.UTC)
            oldest = timezone.now() - datetime.timedelta(days=settings.ANALYTICS_RAW_RETENTION_DAYS)
            if moment < oldest:
                self.stderr.write(f"raw events are kept {settings.ANALYTICS_RAW_RETENTION_DAYS} "
                                  f"days: hours before {oldest:%Y-%m-%d %H:00} keep their "
                                  "rollups as they are")
                moment = oldest
            self.stdout.write(f"recounting from {moment:%Y-%m-%d %H:00} UTC …")
            result = rollups.rollups_rebuild(moment)
            verb = "recounted"
        self.stdout.write(f"{verb} {result.evaluation_rows:,} evaluation rows and "
                          f"{result.custom_rows:,} custom events in "
                          f"{time.monotonic() - started:.2f} s")
