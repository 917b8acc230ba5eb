"""Console logging for operators: requests, changes, applied schedules and errors, not a line
for every tick of beat's routine sweeps.

``make run`` used to print three INFO lines a second for the scheduled-change sweep (beat
sending it, the worker receiving it, the worker finishing it with nothing to do): 2,083 of
2,780 lines in 12 minutes. Those records are dropped unless the sweep did something; failures
always show. Per-component levels come from ``LOG_LEVELS`` (see settings).
"""

from __future__ import annotations

import logging

# Tasks beat runs every few seconds; they log only when they did something.
ROUTINE_TASKS = frozenset({
    "flags.tasks.apply_due_scheduled_changes",
    "flags.tasks.close_expired_key_streams",
})
NOTHING_DONE = frozenset({"{}", "0", "None"})


def _task_of(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(task name, its logged return value) of a Celery beat or worker record."""
    args = record.args
    if isinstance(args, dict):
        return args.get("name"), args.get("return_value")
    if record.name == "celery.beat" and isinstance(args, tuple) and len(args) == 2:
        return args[1], None  # "Scheduler: Sending due task %s (%s)"
    return None, None


class RoutineTasksFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.name.startswith("celery"):
            return True
        task, returned = _task_of(record)
        if task not in ROUTINE_TASKS:
            return True
        return returned is not None and returned not in NOTHING_DONE


def component_levels(spec: str) -> dict[str, dict]:
    """``"celery=WARNING,flags.scheduling=DEBUG"`` → LOGGING ``loggers`` entries."""
    loggers = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, level = part.partition("=")
        level = level.strip().upper()
        if not name.strip() or level not in logging.getLevelNamesMapping():
            raise ValueError(f"LOG_LEVELS: {part!r} is not <logger>=<level>")
        loggers[name.strip()] = {"level": level}
    return loggers
