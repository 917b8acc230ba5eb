"""Figures across processes: each process writes a report of itself (streaming.models
.ProcessReport) every STREAM_PRESENCE_SECONDS, and readers add up the reports that are fresh.

A server process reports its open streams per kind and per channel, and its counters (streams
opened, events delivered, replays, resets, idle and slow closes); the NATS bridge reports its
state. A process that stops cleanly removes its report; one that dies is ignored once its
report is three intervals old, and removed by the next writer.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import ProcessReport

SERVER = "server"
BRIDGE = "bridge"


def process_key(role: str) -> str:
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{int(timezone.now().timestamp())}"


def _fresh_after():
    return timezone.now() - timedelta(seconds=3 * settings.STREAM_PRESENCE_SECONDS)


def report_write(key: str, role: str, figures: dict, *, started=None) -> None:
    """Write (or replace) this process's report, and drop reports of processes long gone."""
    now = timezone.now()
    updated = ProcessReport.objects.filter(key=key).update(updated=now, figures=figures)
    if not updated:
        ProcessReport.objects.create(key=key, role=role, host=socket.gethostname(),
                                     pid=os.getpid(), started=started or now, updated=now,
                                     figures=figures)
        ProcessReport.objects.filter(updated__lt=now - timedelta(
            seconds=30 * settings.STREAM_PRESENCE_SECONDS)).delete()


def report_remove(key: str) -> None:
    ProcessReport.objects.filter(key=key).delete()


def reports_live(role: str) -> list[ProcessReport]:
    """The fresh reports of ``role``, newest first."""
    return list(ProcessReport.objects.filter(role=role, updated__gte=_fresh_after())
                .order_by("-updated"))


def servers_summed() -> dict:
    """The server processes' reports added up: ``{"processes", "kinds": {kind: streams},
    "channels": {channel: streams}, "counters": {kind: {name: n}}}``."""
    out = {"processes": 0, "kinds": {}, "channels": {}, "counters": {}}
    for report in reports_live(SERVER):
        out["processes"] += 1
        figures = report.figures or {}
        for kind, count in figures.get("kinds", {}).items():
            out["kinds"][kind] = out["kinds"].get(kind, 0) + count
        for channel, count in figures.get("channels", {}).items():
            out["channels"][channel] = out["channels"].get(channel, 0) + count
        for kind, counters in figures.get("counters", {}).items():
            mine = out["counters"].setdefault(kind, {})
            for name, value in counters.items():
                mine[name] = mine.get(name, 0) + value
    return out
