"""The credential guard (tenancy.credential_guard) around a stand-in application: refused
credentials are counted per address, past the limit every request from that address that
carries a credential is refused with 429 until the minute ends, and processes add up."""

import asyncio
import json

import pytest
from django.core.cache import cache

from tenancy import credential_guard
from tenancy.credential_guard import CredentialGuard, carries_credential

GOOD = b"Bearer good-credential"


async def stand_in(scope, receive, send):
    """401 unless the request carries the good credential; WebSockets close with 4401."""
    headers = dict(scope.get("headers", ()))
    good = headers.get(b"authorization") == GOOD or b"token=good" in scope.get("query_string", b"")
    if scope["type"] == "websocket":
        await receive()
        if good:
            await send({"type": "websocket.accept"})
        else:
            await send({"type": "websocket.close", "code": 4401})
        return
    await send({"type": "http.response.start", "status": 200 if good else 401, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def http_scope(address="10.0.0.1", authorization=None, query=b""):
    headers = [(b"authorization", authorization)] if authorization else []
    return {"type": "http", "method": "GET", "path": "/api/sdk/flags", "headers": headers,
            "query_string": query, "client": (address, 40000)}


def call(guard, scope):
    sent = []

    async def receive():
        return {"type": "websocket.connect"} if scope["type"] == "websocket" else \
            {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return sent


def status(sent):
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"])


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def test_carries_credential__headers_and_query_parameters():
    assert carries_credential(http_scope(authorization=b"Bearer x"))
    assert carries_credential({"headers": [(b"x-api-key", b"k")], "query_string": b""})
    assert carries_credential(http_scope(query=b"conversationId=c&sdkKey=cli-1"))
    assert carries_credential(http_scope(query=b"token=abc"))
    assert not carries_credential(http_scope(query=b"conversationId=c&token="))
    assert not carries_credential(http_scope(authorization=b"   "))
    assert not carries_credential(http_scope())


def test_past_the_limit__even_the_right_credential_is_refused_429__others_pass():
    guard = CredentialGuard(stand_in, limit=3)
    for _ in range(3):
        assert status(call(guard, http_scope(authorization=b"Bearer wrong")))[0] == 401
    code, headers = status(call(guard, http_scope(authorization=GOOD)))
    assert code == 429
    assert 1 <= int(headers[b"retry-after"]) <= 60
    body = json.loads(call(guard, http_scope(query=b"token=good"))[1]["body"])
    assert body["error"] == "rate_limited" and "try again in" in body["detail"]
    # Without a credential the request proves nothing and passes (here: the stand-in's 401).
    assert status(call(guard, http_scope()))[0] == 401
    # Another address is untouched.
    assert status(call(guard, http_scope("10.0.0.2", authorization=GOOD)))[0] == 200


def test_under_the_limit__right_credentials_pass_and_are_not_counted():
    guard = CredentialGuard(stand_in, limit=3)
    for _ in range(2):
        assert status(call(guard, http_scope(authorization=b"Bearer wrong")))[0] == 401
    for _ in range(20):
        assert status(call(guard, http_scope(authorization=GOOD)))[0] == 200
    assert status(call(guard, http_scope(authorization=b"Bearer wrong")))[0] == 401
    assert status(call(guard, http_scope(authorization=GOOD)))[0] == 429


def test_ingest__counted_but_never_turned_away():
    """Agent CLIs never retry a 4xx: a blocked address's good key still gets its answer."""
    guard = CredentialGuard(stand_in, limit=2)
    ingest = {**http_scope(authorization=b"Bearer wrong"), "method": "POST", "path": "/api/ingest"}
    for _ in range(2):
        assert status(call(guard, ingest))[0] == 401
    assert status(call(guard, {**ingest, "headers": [(b"authorization", GOOD)]}))[0] == 200
    assert status(call(guard, http_scope(authorization=GOOD)))[0] == 429


def test_the_block_ends_with_its_minute(monkeypatch):
    now = [60 * 16_667 + 20.0]  # 20 s into a minute
    monkeypatch.setattr(credential_guard.time, "time", lambda: now[0])
    monkeypatch.setattr("tenancy.rate_limits.time.time", lambda: now[0])
    guard = CredentialGuard(stand_in, limit=2)
    for _ in range(2):
        call(guard, http_scope(authorization=b"Bearer wrong"))
    code, headers = status(call(guard, http_scope(authorization=GOOD)))
    assert (code, headers[b"retry-after"]) == (429, b"40")
    now[0] += 40
    assert status(call(guard, http_scope(authorization=GOOD)))[0] == 200


def test_websocket__4401_counts__a_blocked_address_is_closed_4429():
    guard = CredentialGuard(stand_in, limit=2)
    for _ in range(2):
        sent = call(guard, {**http_scope(query=b"sdkKey=wrong"), "type": "websocket"})
        assert sent == [{"type": "websocket.close", "code": 4401}]
    sent = call(guard, {**http_scope(query=b"token=good"), "type": "websocket"})
    assert sent[0]["type"] == "websocket.close" and sent[0]["code"] == 4429


def test_two_processes_add_up__each_learns_of_the_block_at_its_own_next_refusal():
    first, second = CredentialGuard(stand_in, limit=4), CredentialGuard(stand_in, limit=4)
    for guard in (first, second, first):
        assert status(call(guard, http_scope(authorization=b"Bearer wrong")))[0] == 401
    assert status(call(second, http_scope(authorization=b"Bearer wrong")))[0] == 401  # the 4th
    assert status(call(second, http_scope(authorization=GOOD)))[0] == 429
    assert status(call(first, http_scope(authorization=GOOD)))[0] == 200  # not yet told
    assert status(call(first, http_scope(authorization=b"Bearer wrong")))[0] == 401
    assert status(call(first, http_scope(authorization=GOOD)))[0] == 429


def test_off_when_the_setting_is_zero(settings):
    settings.CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE = 0
    assert credential_guard.with_credential_guard(stand_in) is stand_in
    settings.CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE = 5
    assert isinstance(credential_guard.with_credential_guard(stand_in), CredentialGuard)


def test_wrappers_pass_on_daphnes_request__streams_keep_their_socket(settings):
    """streaming.backpressure finds a stream's socket through daphne's ``send.args``: the
    guard (and the CORS wrapper outside it) must hand it on, or streams lose their direct
    writes and clients that stop reading are never cut off."""
    from config.cors import with_cors

    settings.CORS_ALLOWED_ORIGINS = ["*"]
    seen = []

    async def inner(scope, receive, send):
        seen.append(getattr(send, "args", None))
        await send({"type": "http.response.start", "status": 200, "headers": []})

    class DaphneSend:  # daphne's send is a partial whose args carry the request
        args = ("the twisted request",)

        async def __call__(self, message):
            pass

    application = with_cors(CredentialGuard(inner, limit=5))
    scope = {**http_scope(authorization=GOOD), "path": "/api/sdk/stream",
             "headers": [(b"authorization", GOOD), (b"origin", b"https://app.example")]}

    async def receive():
        return {"type": "http.request", "body": b""}

    asyncio.run(application(scope, receive, DaphneSend()))
    assert seen == [("the twisted request",)]
