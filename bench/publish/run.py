"""Append cost of the replay storage: django-eventstream's DjangoModelStorage (which deletes
expired events on every append) against streaming.storage.EventStorage (which leaves that to
the hourly beat task), on a fresh table and on one holding expired events.

Run: make bench-publish     (or .venv/bin/python bench/publish/run.py [--appends N])
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["FLAGSTREAM_VAR_DIR"] = tempfile.mkdtemp(prefix="flagstream-publish-")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_eventstream.models import Event, EventCounter  # noqa: E402
from django_eventstream.storage import DjangoModelStorage  # noqa: E402

from streaming.storage import EventStorage  # noqa: E402

PAYLOAD = '{"type": "flag_updated", "flagKey": "f", "version": 1, "flag": {"key": "f"}}'


def seed_expired(count: int) -> None:
    old = timezone.now() - timedelta(days=3)
    Event.objects.bulk_create(
        [Event(channel="old", type="flag_updated", data=PAYLOAD, eid=i + 1) for i in range(count)],
        batch_size=5000)
    Event.objects.filter(channel="old").update(created=old)


def measure(storage, appends: int, channel: str) -> list[float]:
    times = []
    for _ in range(appends):
        t0 = time.perf_counter()
        storage.append_event(channel, "flag_updated", PAYLOAD)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--expired", type=int, default=100_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"Replay storage append cost, SQLite, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs\n")
    print(f"{'storage':<22}{'table':<26}{'median ms':>10}{'p99 ms':>9}{'appends/s':>11}")
    for table in ("fresh", f"{args.expired:,} expired events"):
        for name, storage in (("DjangoModelStorage", DjangoModelStorage()),
                              ("EventStorage", EventStorage())):
            Event.objects.all().delete()
            EventCounter.objects.all().delete()
            if table != "fresh":
                seed_expired(args.expired)
            times = measure(storage, args.appends, f"bench-{name}")
            ordered = sorted(times)
            print(f"{name:<22}{table:<26}{statistics.median(times):>10.3f}"
                  f"{ordered[int(len(ordered) * 0.99) - 1]:>9.3f}"
                  f"{1000 / statistics.fmean(times):>11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
