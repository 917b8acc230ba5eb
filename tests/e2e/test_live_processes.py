"""``manage.py serve --processes 2`` (issue 16, item 2): two server processes on one port, each
with its own hub; a change made through one reaches streams held by both; each reports its own
figures; a worker that dies is replaced; SIGTERM to the supervisor ends every stream properly
and stops them all."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from tests.e2e.test_live_sessions import assert_replays_store_the_same
from tests.live import LiveStack
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

REPORTS = """
import json
from streaming.presence import SERVER, reports_live
print(json.dumps({r.pid: sum((r.figures or {}).get("kinds", {}).values())
                  for r in reports_live(SERVER)}))
"""


OPS_TOKEN = "ops-token-of-the-processes-test"


def stats(stack) -> dict:
    """``/stream/stats`` as an operator sees it, from whichever process answers."""
    answer = httpx.get(f"{stack.base_url}/stream/stats",
                       headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["servers"]


def streams_by_process(stack) -> dict:
    out = stack.manage("shell", "-c", REPORTS).strip().splitlines()[-1]
    return {int(pid): n for pid, n in json.loads(out).items()}


def wait_for(check, timeout: float = 30, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def stack(tmp_path):
    env = {"STREAM_PRESENCE_SECONDS": "1", "SDK_RATE_LIMIT_PER_MINUTE": "0",
           "STREAM_HEARTBEAT_SECONDS": "1", "STREAM_OPS_TOKEN": OPS_TOKEN,
           "INGEST_RATE_LIMIT_PER_MINUTE": "0"}
    with LiveStack(tmp_path / "var", extra_env=env,
                   server_args=("--processes", "2")).running() as live:
        yield live


def test_two_processes__a_change_reaches_streams_on_both__a_dead_worker_replaced__sigterm_stops_all(
        stack):
    key = stack.credentials["keys"]["development"]["server"]
    readers = []
    try:
        # Connections go to whichever process accepts first: open streams until both hold some.
        for n in range(40):
            reader = SSEReader(f"{stack.base_url}/api/sdk/stream", {"Authorization": key})
            readers.append(reader)
            assert reader.wait_open() == 200
            assert reader.next().event == "put"
            if (n + 1) % 5 == 0:
                counts = wait_for(lambda: (lambda c: sum(c.values()) >= len(readers) and c)(
                    streams_by_process(stack)), timeout=10)
                if len(counts) == 2 and all(counts.values()):
                    break
        held = streams_by_process(stack)
        assert len(held) == 2 and all(held.values()), held
        # The figures add up across processes, whichever of them is asked.
        for _ in range(4):
            servers = stats(stack)
            assert servers["processes"] == 2
            assert servers["streamsByKind"] == {"sdk": len(readers)}, servers
        with httpx.Client(base_url=stack.base_url, timeout=10) as api:
            token = api.post("/api/auth/token", json={
                "username": "admin", "password": stack.credentials["password"]}).json()["access"]
            api.headers["Authorization"] = f"Bearer {token}"
            url = "/api/v1/projects/demo/environments/development/flags/button-color/"
            current = api.get(url).json()["offVariant"]
            new = {"red": "green", "green": "blue", "blue": "red"}[current]
            api.patch(url, json={"offVariant": new}).raise_for_status()
        for reader in readers:
            change = reader.next_of("flag_updated", timeout=15)
            assert change.json["flagKey"] == "button-color"

        # A worker killed outright is replaced, and the new one takes connections.
        victim, survivor = sorted(held)
        os.kill(victim, signal.SIGKILL)
        log = stack.var_dir / "server.log"
        wait_for(lambda: f"server process {victim} exited" in log.read_text())
        newcomer = None
        for _ in range(40):
            reader = SSEReader(f"{stack.base_url}/api/sdk/stream", {"Authorization": key})
            readers.append(reader)
            assert reader.wait_open() == 200
            time.sleep(0.2)
            newcomer = next(iter(set(streams_by_process(stack)) - {victim, survivor}), None)
            if newcomer is not None:
                break
        assert newcomer is not None, "no stream reached the replacement process"
        replaced = (survivor, newcomer)

        # SIGTERM to the supervisor: every worker ends its streams and exits, then it does.
        supervisor = next(log for _, log in stack.processes if log.name == "server.log")
        assert stack.stop_process(supervisor) == 0
        for reader in readers:
            assert reader.closed.wait(15), "a stream was left open"
        for pid in replaced:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        for reader in readers:
            reader.close()


def test_two_processes__cli_events_shuffled_and_duplicated_over_both__same_conversation(stack):
    """Each process has its own group-commit writer: copies of one event committed by both
    at once must still be stored once, and every order must give the same conversation."""
    stack.api_key = stack.credentials["apiKey"]
    assert_replays_store_the_same(stack, "procs")


def test_supervisor_killed_outright__its_workers_stop_too(stack):
    supervisor = next(p for p, log in stack.processes if log.name == "server.log")
    workers = [int(pid) for pid in
               open(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read().split()]
    assert len(workers) == 2
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(10)

    def all_gone():
        for pid in workers:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            # A zombie is gone too (exited; init reaps it).
            try:
                if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                    return False
            except FileNotFoundError:
                continue
        return True

    wait_for(all_gone, timeout=15)
