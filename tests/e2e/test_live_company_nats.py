"""The NATS bridge against a real nats-server (JetStream) and a real server on a real port
(issue 12): a NATS publish reaches the right company's httpx-sse client and never another
company's; what cannot be delivered is dropped and counted; a bridge killed mid-stream and
started again loses no event and repeats none; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

import httpx
import pytest

from tests.live import LiveStack, nats_available
from tests.sse_client import SSEReader

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not nats_available(), reason="nats-server is not installed (.ci/run installs it)")]

SETUP = """
from django.contrib.auth import get_user_model
from tenancy import services
globex = services.organization_create(slug="globex", name="Globex")
user = get_user_model().objects.create_user("globex-viewer", password="pw-globex-1")
services.membership_set(organization=globex, user=user, role="viewer")
services.organization_create(slug="initech", name="Initech")
"""


def nats_publish(url: str, messages: list[tuple[str, object]]) -> None:
    """Publish ``(subject, payload)`` to JetStream, each acknowledged by the server."""
    import nats

    async def run():
        nc = await nats.connect(url)
        js = nc.jetstream()
        for subject, payload in messages:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await js.publish(subject, data)
        await nc.close()

    asyncio.run(run())


def start_companies_with_bridge(live: LiveStack) -> None:
    """A nats-server (JetStream), the demo and the server, a second company with a member
    (SETUP), their login headers (``acme_user``, ``globex_user``) and a running bridge
    (``bridge_log``)."""
    live.nats_url = live.start_nats()
    live.start_with_demo()
    live.manage("shell", "-c", SETUP)
    live.acme_user = live.bearer("admin", live.credentials["password"])
    live.globex_user = live.bearer("globex-viewer", "pw-globex-1")
    live.bridge_log = live.spawn("bridge", sys.executable, "manage.py", "nats_bridge")
    live.wait_for_log(live.bridge_log, "reading FLAGSTREAM_UPDATES")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("natsvar"),
                     extra_env={"STREAM_PRESENCE_SECONDS": "1", "STREAM_OPS_TOKEN": "ops-1"})
    try:
        start_companies_with_bridge(live)
        yield live
    finally:
        live.stop()


def bridge_report(stack) -> dict:
    response = httpx.get(f"{stack.base_url}/stream/stats",
                         headers={"Authorization": "Bearer ops-1"})
    assert response.status_code == 200, response.text
    return response.json()["bridge"]


def wait_for(check, timeout: float = 20):
    """``check()`` until it returns something true; the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_nats_publish__reaches_its_company_only(stack):
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    globex = SSEReader(f"{stack.base_url}/stream/updates?companyId=globex", stack.globex_user)
    try:
        assert acme.wait_open() == 200 and globex.wait_open() == 200
        nats_publish(stack.nats_url, [
            ("metrics.calculated", {"companyId": "acme", "metricName": "nps", "value": 41}),
            ("journey.flag_updated", {"companyId": "globex", "userId": "u1",
                                      "flag": "struggling"}),
            ("q2q.computed", {"companyId": "acme", "chart": "q2q"}),
            ("sroi.updated", {"companyId": "acme", "sroi": 3.2}),
        ])
        got = [acme.next() for _ in range(3)]
        assert [(g.event, g.json) for g in got] == [
            ("metric_updated", {"companyId": "acme", "metricName": "nps", "value": 41}),
            ("vis_updated", {"companyId": "acme", "chart": "q2q"}),
            ("sroi_updated", {"companyId": "acme", "sroi": 3.2})]
        assert all(g.id for g in got)
        other = globex.next()
        assert (other.event, other.json["flag"]) == ("journey_flag_updated", "struggling")
        assert acme.nothing_for(0.5) and globex.nothing_for(0.2)  # nothing crossed over
    finally:
        acme.close()
        globex.close()


def test_undeliverable_messages__are_dropped_and_counted(stack):
    before = bridge_report(stack)["dropped"]
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    try:
        assert acme.wait_open() == 200
        nats_publish(stack.nats_url, [
            ("metrics.calculated", {"companyId": "no-such-company", "value": 1}),
            ("metrics.calculated", {"value": 1}),  # no companyId
            ("metrics.calculated", b"not json"),
            ("metrics.deleted", {"companyId": "acme"}),  # no mapping for the subject
            ("metrics.updated", {"companyId": "acme", "after": "the dropped ones"}),
        ])
        got = acme.next()
        assert (got.event, got.json["after"]) == ("metric_updated", "the dropped ones")
        assert acme.nothing_for(0.3)
    finally:
        acme.close()

    def counted():
        dropped = bridge_report(stack)["dropped"]
        grown = {reason: dropped[reason] - before[reason] for reason in dropped}
        return grown if grown == {"unknown_company": 2, "invalid": 1, "unmapped": 1,
                                  "disabled": 0} else None

    assert wait_for(counted), bridge_report(stack)


def test_bridge_killed_mid_stream__loses_and_repeats_nothing(stack):
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    try:
        assert acme.wait_open() == 200
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "n": n})
                                      for n in range(100)])
        assert [acme.next().json["n"] for _ in range(20)] == list(range(20))
        assert stack.stop_process(stack.bridge_log, signal.SIGKILL) == -signal.SIGKILL
        # Published while no bridge runs: JetStream keeps them for the durable consumer.
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "n": n})
                                      for n in range(100, 200)])
        stack.bridge_log = stack.spawn("bridge-again", sys.executable, "manage.py",
                                       "nats_bridge")
        # What the killed bridge held unacknowledged comes again after NATS_ACK_WAIT_SECONDS
        # (perhaps after newer messages): every one, once.
        received = [acme.next(timeout=30).json["n"] for _ in range(180)]
        assert sorted(received) == list(range(20, 200))
        assert acme.nothing_for(1.0)  # and nothing twice
    finally:
        acme.close()


def test_sigterm__stops_the_bridge_cleanly(stack):
    log = stack.spawn("bridge-term", sys.executable, "manage.py", "nats_bridge",
                      "--durable", "term-test")
    stack.wait_for_log(log, "reading FLAGSTREAM_UPDATES")
    assert stack.stop_process(log, signal.SIGTERM) == 0
    assert "NATS bridge stopped" in log.read_text()


def test_without_nats_url__the_command_says_how_to_set_it(stack):
    env = {key: value for key, value in stack.env.items() if key != "NATS_URL"}
    import subprocess

    result = subprocess.run([sys.executable, "manage.py", "nats_bridge"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "NATS_URL is not set" in result.stderr and "nats://" in result.stderr


def test_nats_server_restarted__bridge_reconnects__everything_published_meanwhile_arrives(
        stack):
    """Issue 14 (faults): nats-server killed and started again on its port and store; what is
    published from then on — while the bridge is still reconnecting — reaches the stream,
    each once."""
    if stack.process_of(stack.bridge_log).poll() is not None:
        stack.bridge_log = stack.spawn("bridge-restart", sys.executable, "manage.py",
                                       "nats_bridge")
        stack.wait_for_log(stack.bridge_log, "reading FLAGSTREAM_UPDATES")
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    try:
        assert acme.wait_open() == 200
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "r": n})
                                      for n in range(20)])
        assert [acme.next(timeout=20).json["r"] for _ in range(20)] == list(range(20))
        nats_log = next(log for _, log in stack.processes if log.name == "nats.log")
        stack.stop_process(nats_log, signal.SIGKILL)
        time.sleep(1)
        stack.start_nats()
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "r": n})
                                      for n in range(20, 120)])
        received = [acme.next(timeout=60).json["r"] for _ in range(100)]
        assert sorted(received) == list(range(20, 120))
        assert acme.nothing_for(1.0)
        assert stack.process_of(stack.bridge_log).poll() is None  # the same bridge, reconnected
    finally:
        acme.close()
