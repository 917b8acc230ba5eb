"""The console shows what an operator needs, not three lines a second of beat's sweep
(issue 15, item 13)."""

import logging

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from config.logging import RoutineTasksFilter, component_levels

SWEEP = "flags.tasks.apply_due_scheduled_changes"


def record(name, msg, args, level=logging.INFO):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def worker_record(template, task, returned="{}"):
    # Celery logs its worker lines with a dict of fields (celery.app.trace, .worker.strategy)
    return record("celery.app.trace", template, ({"id": "x", "name": task,
                                                  "return_value": returned, "runtime": 0.002,
                                                  "args": "()", "kwargs": "{}"},))


def shown(rec) -> bool:
    return RoutineTasksFilter().filter(rec)


def test_sweep_tick__beat_sending_and_worker_receiving_and_finishing_idle__hidden():
    assert not shown(record("celery.beat", "Scheduler: Sending due task %s (%s)",
                            ("apply-due-scheduled-changes", SWEEP)))
    assert not shown(worker_record(LOG_RECEIVED, SWEEP))
    assert not shown(worker_record(LOG_SUCCESS, SWEEP, "{}"))


def test_sweep_that_applied_changes__shown():
    assert shown(worker_record(LOG_SUCCESS, SWEEP, "{'applied': 3}"))


def test_sweep_failure_and_other_tasks__shown():
    assert shown(record("celery.app.trace", "Task %(name)s failed", ({"name": SWEEP},),
                        logging.ERROR))
    assert shown(worker_record(LOG_SUCCESS, "streaming.tasks.trim_stream_events", "0"))
    assert shown(record("django.request", "Not Found: %s", ("/x",)))


def test_log_levels__per_component__parsed_and_bad_spec_named():
    assert component_levels("celery=warning, flags.scheduling=DEBUG") == {
        "celery": {"level": "WARNING"}, "flags.scheduling": {"level": "DEBUG"}}
    assert component_levels("") == {}
    with pytest.raises(ValueError, match="LOG_LEVELS"):
        component_levels("celery=LOUD")


def test_live_stack__a_credential_in_a_process_log__reported(tmp_path):
    """The check every live test's teardown makes (tests/live.py) can fail."""
    from tests.live import LiveStack

    stack = LiveStack(tmp_path)
    log = tmp_path / "server.log"
    log.write_text("GET /api/sdk/stream?sdkKey=cli-abcdefghijklmnop 200\n")
    stack.processes.append((None, log))
    stack.remember({"keys": {"dev": ["cli-abcdefghijklmnop", "short"]}}, "srv-not-in-any-log-1")
    assert stack.leaked_secrets() == ["cli-abcdef… in server.log"]
