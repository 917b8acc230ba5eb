"""Agent sessions against a real server on a real port (issue 10, done-when): the CLI's
envelopes replayed as the CLI sends them (concurrently, shuffled, duplicated) store the same
conversation every time; httpx-sse and headless Chromium see a conversation arrive live and
resume after a dropped connection with nothing missing or repeated."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.browser import Browser, chromium_available
from tests.live import LiveStack
from tests.sessions.agentpipe import replay
from tests.sessions.recorded import conversation_events
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    extra = {"INGEST_RATE_LIMIT_PER_MINUTE": "0"}
    with LiveStack(tmp_path_factory.mktemp("sessionsvar"), extra_env=extra).running() as live:
        live.api_key = live.credentials["apiKey"]
        yield live


def fetch(stack, conversation_id: str) -> dict:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    listed = httpx.get(f"{stack.base_url}/api/sessions", params={"search": conversation_id},
                       headers=headers).json()["results"]
    (found,) = [s for s in listed if s["conversation_id"] == conversation_id]
    detail = httpx.get(f"{stack.base_url}/api/sessions/{found['id']}",
                       params={"messageLimit": 1000}, headers=headers).json()
    for name in ("id", "conversation_id"):
        detail.pop(name)
    return detail


def renamed(events: list[dict], conversation_id: str) -> list[dict]:
    copy = json.loads(json.dumps(events))
    for event in copy:
        event["data"]["conversation_id"] = conversation_id
    return copy


def assert_replays_store_the_same(stack, name: str, messages: int = 12) -> None:
    """A conversation sent in order (``started`` first, alone), then three times more under
    other ids, shuffled and each event five times, as the CLI's goroutines and retries would:
    nothing lost, and every copy stored the same."""
    events = conversation_events(name, messages=messages)
    replay(stack.base_url, stack.api_key, [events[0]])
    assert replay(stack.base_url, stack.api_key, events[1:]).lost == []
    expected = fetch(stack, name)
    assert expected["status"] == "completed" and len(expected["messages"]) == messages
    for seed in range(3):
        copy = f"{name}-{seed}"
        outcome = replay(stack.base_url, stack.api_key, renamed(events, copy), duplicate=5,
                         shuffle=True, seed=seed)
        assert outcome.lost == [] and outcome.succeeded == outcome.sent
        assert fetch(stack, copy) == expected, f"seed {seed}"


def test_replayed_as_the_cli_sends__same_conversation_every_time(stack):
    assert_replays_store_the_same(stack, "base")


def test_cli_headers_only__no_redirect_and_json_errors(stack):
    response = httpx.post(f"{stack.base_url}/api/ingest", content=b"{}",
                          headers={"Content-Type": "application/json",
                                   "Authorization": f"Bearer {stack.api_key}"})
    assert response.status_code == 400 and response.json()["fields"]["type"] == ["is required"]
    assert httpx.post(f"{stack.base_url}/api/ingest", content=b"{}").status_code == 401


def test_httpx_sse__live_then_resumes_after_a_dropped_connection(stack):
    events = conversation_events("sse-1", messages=10)
    url = f"{stack.base_url}/api/realtime/stream?conversationId=sse-1"
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    first = SSEReader(url, headers)
    assert first.wait_open() == 200
    replay(stack.base_url, stack.api_key, events[:6])  # started + 5 messages
    seen = [first.next() for _ in range(6)]  # in whatever order the CLI's sends landed
    assert sorted(e.event for e in seen) == ["conversation.started"] + ["message.created"] * 5
    first.close()  # the connection drops
    replay(stack.base_url, stack.api_key, events[6:])  # 5 more, the error, the end
    again = SSEReader(url, {**headers, "Last-Event-ID": seen[-1].id})
    assert again.wait_open() == 200
    rest = [again.next(timeout=10) for _ in range(7)]
    again.close()
    messages = [json.loads(e.data)["message_id"] for e in seen + rest
                if e.event == "message.created"]
    assert sorted(messages, key=lambda m: int(m.split("-")[1])) == [f"msg-{n}" for n in
                                                                   range(10)]
    assert len(messages) == len(set(messages)) == 10  # nothing missing, nothing twice
    # the end may land before the last messages: the CLI does not wait for them
    assert sorted(e.event for e in rest if not e.event.startswith("message")) == \
        ["conversation.completed", "conversation.error"]
    ids = [int(e.id.rsplit(":", 1)[1]) for e in seen + rest]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_stream__refuses_other_organizations_and_wrong_keys(stack):
    status = httpx.get(f"{stack.base_url}/api/realtime/stream",
                       headers={"Authorization": "Bearer ap_live_wrong"}).status_code
    assert status == 401
    assert httpx.get(f"{stack.base_url}/api/realtime/stream").status_code == 401


@pytest.mark.skipif(not chromium_available(), reason="Debian's chromium is not installed")
def test_chromium__live_session_page__follows_and_resumes_after_a_restart(stack, tmp_path):
    events = conversation_events("browser-1", messages=8)
    replay(stack.base_url, stack.api_key, events[:3])  # started + 2 messages, before the page
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    listed = httpx.get(f"{stack.base_url}/api/sessions", params={"search": "browser-1"},
                       headers=headers).json()["results"]
    session_id = listed[0]["id"]
    browser = Browser(tmp_path / "chromium")
    shown = "document.querySelectorAll('#messages li').length"

    async def scenario(page):
        await page.admin_login(stack.base_url, stack.credentials["password"])
        await page.load(f"{stack.base_url}/live/sessions/",
                        "document.getElementById('status').textContent === 'connected'")
        assert await page.eval("!!document.getElementById('session-browser-1')")
        await page.load(f"{stack.base_url}/live/sessions/{session_id}/",
                        "document.getElementById('status').textContent === 'connected'")
        assert await page.eval(shown) == 2
        await asyncio.to_thread(replay, stack.base_url, stack.api_key, events[3:5])
        await page.wait_for(f"{shown} === 4")
        # the server goes away and comes back; EventSource reconnects with Last-Event-ID
        await asyncio.to_thread(stack.stop_server)
        await page.wait_for("document.getElementById('status').textContent === 'reconnecting…'")
        await asyncio.to_thread(stack.start_server)
        await asyncio.to_thread(replay, stack.base_url, stack.api_key, events[5:])
        await page.wait_for(f"{shown} === 8", timeout=30)
        await page.wait_for("document.getElementById('conversation-status').textContent "
                            "=== 'completed'")
        ids = await page.eval("[...document.querySelectorAll('#messages li')].map(li => li.id)")
        assert ids == [f"message-msg-{n}" for n in range(8)]  # in order, none twice
        assert "gemini timed out" in await page.eval(
            "document.getElementById('errors').textContent")

    try:
        browser.run(scenario)
    finally:
        browser.close()


@pytest.mark.parametrize("headers, body, status, error", [
    ({}, b"{}", 401, "not_authenticated"),
    ({"Authorization": "Bearer ap_live_wrong"}, b"{}", 401, "invalid_api_key"),
    ({"Authorization": "KEY"}, b"{}", 403, "insufficient_scope"),  # a read-only key
    ({"Authorization": "KEY*"}, b"{nope", 400, "parse_error"),
    ({"Authorization": "KEY*"}, b"[1]", 400, "validation_error"),
    ({"Authorization": "KEY*"}, b'{"type": "x"}', 400, "validation_error"),
    ({"Authorization": "KEY*"}, b"{" + b" " * (1024 * 1024 + 1) + b"}", 413,
     "payload_too_large"),
])
def test_ingest_over_asgi__refusals_are_the_apis(stack, headers, body, status, error):
    """POST /api/ingest is served from ASGI (sessions_app/asgi.py): the same answers."""
    if headers.get("Authorization") == "KEY":
        headers = {"Authorization": f"Bearer {read_only_key(stack)}"}
    elif headers.get("Authorization") == "KEY*":
        headers = {"Authorization": f"Bearer {stack.api_key}"}
    response = httpx.post(f"{stack.base_url}/api/ingest", content=body,
                          headers={"Content-Type": "application/json", **headers})
    assert (response.status_code, response.json()["error"]) == (status, error)


def read_only_key(stack) -> str:
    if not hasattr(stack, "read_only_key"):
        stack.read_only_key = stack.manage("create_api_key", "acme", "--scope",
                                           "read").strip().splitlines()[-1]
    return stack.read_only_key


def test_ingest_over_asgi__get_is_405_json(stack):
    response = httpx.get(f"{stack.base_url}/api/ingest")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_ingest_over_asgi__rate_limit_429_retry_after_but_never_the_end(tmp_path):
    with LiveStack(tmp_path / "var", extra_env={"INGEST_RATE_LIMIT_PER_MINUTE": "2"}) \
            .running() as limited:
        key = limited.credentials["apiKey"]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        events = conversation_events("limited", messages=3)
        codes = [httpx.post(f"{limited.base_url}/api/ingest", json=event, headers=headers)
                 for event in events[:3]]
        assert [c.status_code for c in codes] == [201, 201, 429]
        assert int(codes[2].headers["retry-after"]) >= 1
        end = httpx.post(f"{limited.base_url}/api/ingest", json=events[-1], headers=headers)
        assert end.status_code == 200
