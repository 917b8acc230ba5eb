"""SIGTERM: the server ends its streams properly before it goes, so clients resume elsewhere."""

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
