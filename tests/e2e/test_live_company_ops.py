"""What operators see, against two real server processes sharing a database and a Redis, a
real nats-server and the bridge (issue 12, item 4): /stream/stats, /metrics and
/stream/health count the streams of both servers whichever one answers, and health turns
503 with the reason while NATS or Redis is down, and 200 again when it is back."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.e2e.test_live_company_nats import nats_publish, start_companies_with_bridge, wait_for
from tests.live import LiveStack, nats_available, redis_available
from tests.sse_client import SSEReader

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (nats_available() and redis_available()),
    reason="nats-server and redis-server are not installed (.ci/run installs them)")]

OPS = {"Authorization": "Bearer ops-2"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("opsvar"),
                     extra_env={"STREAM_PRESENCE_SECONDS": "1", "STREAM_OPS_TOKEN": "ops-2"})
    try:
        live.start_redis()
        start_companies_with_bridge(live)
        live.second_url = live.start_second_server()
        yield live
    finally:
        live.stop()


def health(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/stream/health", timeout=10)
    return response.status_code, response.json()


def test_stats_metrics_health__count_both_servers_whichever_answers(stack):
    first, second = stack.base_url, stack.second_url
    readers = [SSEReader(f"{first}/stream/updates?companyId=acme", stack.acme_user),
               SSEReader(f"{second}/stream/updates?companyId=acme", stack.acme_user),
               SSEReader(f"{second}/stream/updates?companyId=globex", stack.globex_user)]
    try:
        assert [reader.wait_open() for reader in readers] == [200, 200, 200]
        expected = {"totalConnections": 3, "activeCompanies": 2,
                    "connectionsByCompany": {"acme": 2, "globex": 1}}
        for url in (first, second):
            stats = wait_for(lambda url=url: (
                lambda body: body if body["connections"] == expected else None)(
                httpx.get(f"{url}/stream/stats", headers=OPS).json()))
            assert stats and stats["servers"]["processes"] == 2, url
            assert stats["bridge"]["running"] == 1 and stats["bridge"]["connected"] is True
            code, body = health(url)
            assert code == 200 and body["status"] == "ok", body
            assert body["streaming"]["activeConnections"] == 3
            assert body["streaming"]["activeCompanies"] == 2
        metrics = httpx.get(f"{second}/metrics", headers=OPS)
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "flagstream_server_processes 2.0" in metrics.text
        assert 'flagstream_stream_connections{kind="company"} 3.0' in metrics.text
        assert "flagstream_bridge_up 1.0" in metrics.text
        # One NATS publish reaches the members on both servers, through Redis.
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "v": 1})])
        assert [readers[0].next().json["v"], readers[1].next().json["v"]] == [1, 1]
        assert readers[2].nothing_for(0.5)
    finally:
        for reader in readers:
            reader.close()
    gone = wait_for(lambda: (lambda body: body if body["connections"]["totalConnections"] == 0
                               else None)(httpx.get(f"{first}/stream/stats", headers=OPS).json()))
    assert gone, "closed streams still counted"
    delivered = httpx.get(f"{first}/metrics", headers=OPS).text
    assert 'flagstream_stream_delivered_total{kind="company"} 2.0' in delivered


def test_health__503_while_nats_is_down__200_when_it_is_back(stack):
    nats_log = next(log for _, log in stack.processes if log.name == "nats.log")
    stack.stop_process(nats_log)
    down = wait_for(lambda: (lambda answer: answer if answer[0] == 503 else None)(
        health(stack.second_url)))
    assert down, "health stayed 200 with NATS stopped"
    assert down[1]["status"] == "unavailable"
    assert any(reason.startswith("bridge: not connected") for reason in down[1]["reasons"])
    stack.start_nats()  # same port, same JetStream store
    assert wait_for(lambda: health(stack.base_url)[0] == 200, timeout=40), \
        health(stack.base_url)
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    try:
        assert acme.wait_open() == 200
        nats_publish(stack.nats_url, [("metrics.updated", {"companyId": "acme", "after": 1})])
        assert acme.next(timeout=20).json["after"] == 1
    finally:
        acme.close()


def test_health__503_while_redis_is_down__200_when_it_is_back(stack):
    redis_log = next(log for _, log in stack.processes if log.name == "redis.log")
    stack.stop_process(redis_log, signal.SIGKILL)
    code, body = health(stack.base_url)
    assert code == 503 and body["status"] == "unavailable"
    assert any(reason.startswith("redis:") for reason in body["reasons"]), body
    stack.start_redis()
    assert wait_for(lambda: health(stack.base_url)[0] == 200), health(stack.base_url)
