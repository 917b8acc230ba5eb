"""Slow and idle clients against a real server on a real port (issue 12, item 5): a client that
stops reading is cut off once its buffer is full for STREAM_SLOW_CLIENT_SECONDS, and does not
hold up a client reading beside it; a stream with nothing but heartbeats for
STREAM_IDLE_TIMEOUT_SECONDS is closed, while one receiving events stays open."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from tests.e2e.test_live_company_nats import SETUP
from tests.live import LiveStack
from tests.sse_client import SSEReader, stalled_clients

pytestmark = pytest.mark.live

OPS = {"Authorization": "Bearer ops-3"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {"STREAM_IDLE_TIMEOUT_SECONDS": "3", "COMPANY_STREAM_HEARTBEAT_SECONDS": "0.5",
           "STREAM_CLIENT_BUFFER_BYTES": "65536", "STREAM_SLOW_CLIENT_SECONDS": "2",
           "STREAM_PRESENCE_SECONDS": "1", "STREAM_OPS_TOKEN": "ops-3"}
    with LiveStack(tmp_path_factory.mktemp("slowvar"), extra_env=env).running() as live:
        live.manage("shell", "-c", SETUP)

        live.member = live.bearer("admin", live.credentials["password"])
        live.globex_member = live.bearer("globex-viewer", "pw-globex-1")
        live.key = live.manage("create_api_key", "acme", "--scope", "publish") \
            .strip().splitlines()[-1]
        yield live


def publish(stack, events: list[dict]) -> None:
    response = httpx.post(f"{stack.base_url}/stream/publish", timeout=30,
                          json={"events": [{"companyId": "acme", "type": "metric_updated",
                                            "data": data} for data in events]},
                          headers={"Authorization": f"Bearer {stack.key}"})
    assert response.status_code == 202, response.text


def counter(stack, name: str) -> float:
    text = httpx.get(f"{stack.base_url}/metrics", headers=OPS).text
    line = f'flagstream_stream_{name}_total{{kind="company"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def counted(stack, name: str, at_least: float, timeout: float = 20) -> float:
    """The counter once it reaches ``at_least`` (servers report every second), or as it is."""
    deadline = time.monotonic() + timeout
    while (value := counter(stack, name)) < at_least and time.monotonic() < deadline:
        time.sleep(0.3)
    return value


def test_client_that_stops_reading__is_cut_off__the_reader_beside_it_gets_everything(stack):
    [stalled] = stalled_clients(stack.base_url, "/stream/updates?companyId=acme",
                                stack.member["Authorization"], 1)
    reader = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.member)
    try:
        assert reader.wait_open() == 200
        before = counter(stack, "slow_closed")
        padding = "x" * 16_000
        total = 600  # ≈ 9.6 MB: more than the socket buffers and the server's limit together
        for start in range(0, total, 100):
            publish(stack, [{"n": n, "pad": padding} for n in range(start, start + 100)])
        started = time.monotonic()
        got = [reader.next(timeout=20).json["n"] for _ in range(total)]
        assert got == list(range(total))
        assert time.monotonic() - started < 15  # not held back by the stalled client
        assert counted(stack, "slow_closed", before + 1) == before + 1
        # What the stalled client can still read ends well before all 600 events: cut off.
        stalled.settimeout(10)
        received = b""
        try:
            while chunk := stalled.recv(65536):
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert received.startswith(b"HTTP/1.1 200")
        assert 0 < received.count(b"event: metric_updated") < total
    finally:
        stalled.close()
        reader.close()


def test_stream_with_only_heartbeats__closed_when_idle__one_with_events_stays(stack):
    before = counter(stack, "idle_closed")
    busy = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.member)
    stop = threading.Event()

    def keep_busy():
        n = 0
        while not stop.wait(0.7):
            publish(stack, [{"busy": n}])
            n += 1

    feeder = threading.Thread(target=keep_busy, daemon=True)
    try:
        assert busy.wait_open() == 200
        feeder.start()
        started = time.monotonic()
        body = b""
        # Another company's stream: none of the events above are its, only heartbeats.
        with httpx.stream("GET", f"{stack.base_url}/stream/updates?companyId=globex",
                          headers=stack.globex_member, timeout=20) as idle:
            assert idle.status_code == 200
            for chunk in idle.iter_bytes():
                body += chunk
        lasted = time.monotonic() - started
        assert body.count(b":\n") >= 3  # heartbeats came, and did not keep it open
        assert body.endswith(b": idle for STREAM_IDLE_TIMEOUT_SECONDS; "
                             b"reconnect with Last-Event-ID\n\n")
        assert 2.5 <= lasted < 10
        assert not busy.closed.is_set()  # receiving events: not idle
        assert busy.next(timeout=5).json["busy"] >= 0
    finally:
        stop.set()
        feeder.join(timeout=5)
        busy.close()
    assert counted(stack, "idle_closed", before + 1) == before + 1


def rss_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_fifty_clients_that_stop_reading__server_memory_bounded__reader_beside_unharmed(stack):
    """Issue 14 (faults): what fifty stalled clients are owed is not copied per client — the
    server's memory grows by far less than 50 × the 9.6 MB published — and they are cut
    off; a client reading beside them gets every event."""
    server = next(p for p, log in stack.processes if log.name == "server.log")
    stalled = stalled_clients(stack.base_url, "/stream/updates?companyId=acme",
                              stack.member["Authorization"], 50)
    reader = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.member)
    try:
        assert reader.wait_open() == 200
        before_closed = counter(stack, "slow_closed")
        before = rss_bytes(server.pid)
        padding = "y" * 16_000
        total, peak = 600, before
        for start in range(0, total, 100):
            publish(stack, [{"n": n, "pad": padding} for n in range(start, start + 100)])
            peak = max(peak, rss_bytes(server.pid))
        got = [reader.next(timeout=30).json["n"] for _ in range(total)]
        peak = max(peak, rss_bytes(server.pid))
        assert got == list(range(total))
        assert counted(stack, "slow_closed", before_closed + 50, timeout=30) \
            == before_closed + 50
        grown = peak - before
        print(f"server RSS {before / 2**20:.0f} MB before, peak {peak / 2**20:.0f} MB")
        assert grown < 100 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MB"
    finally:
        for sock in stalled:
            sock.close()
        reader.close()
