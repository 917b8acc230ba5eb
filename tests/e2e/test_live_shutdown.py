"""SIGTERM: the server ends its streams properly before it goes, so clients resume elsewhere;
the worker finishes the task in hand."""

import signal
import threading
import time

import httpx
import pytest

from tests.live import LiveStack

pytestmark = pytest.mark.live


@pytest.fixture
def stack(tmp_path):
    with LiveStack(tmp_path).running() as live:
        yield live


def test_sigterm__open_streams_end_cleanly_and_the_server_exits(stack):
    outcome = {}

    def read_stream():
        try:
            with httpx.stream("GET", f"{stack.base_url}/api/sdk/stream", timeout=30,
                              headers={"Authorization":
                                       stack.credentials["keys"]["development"]["server"]}) as r:
                outcome["status"] = r.status_code
                outcome["body"] = b"".join(r.iter_bytes())  # raises if cut mid-response
            outcome["ended"] = "cleanly"
        except httpx.HTTPError as exc:
            outcome["ended"] = f"broken: {exc!r}"

    reader = threading.Thread(target=read_stream)
    reader.start()
    time.sleep(1.5)
    started = time.monotonic()
    stack.stop_server()  # SIGTERM, then wait for the process to exit
    reader.join(10)
    assert outcome.get("status") == 200
    assert outcome.get("ended") == "cleanly", outcome.get("ended")
    assert b"event: put" in outcome["body"]
    assert time.monotonic() - started < 10


def test_sigterm__worker_finishes_the_task_in_hand_then_exits(stack):
    log = stack.start_worker("--include", "tests.e2e.slow_task")
    stack.wait_for_log(log, "ready")
    marker = stack.var_dir / "held"
    stack.manage("shell", "-c",
                 f"from tests.e2e.slow_task import hold; hold.delay({str(marker)!r}, 4)")
    deadline = time.monotonic() + 30
    while not marker.with_suffix(".started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.with_suffix(".started").exists(), stack.logs()

    worker = stack.process_of(log)
    worker.send_signal(signal.SIGTERM)  # to the main process, as systemd's KillMode=mixed does
    assert worker.wait(timeout=30) == 0
    assert marker.with_suffix(".done").exists(), "the worker stopped mid-task:\n" + stack.logs()
    assert "warm shutdown" in log.read_text().lower()
