"""Real-time delivery on a real server: httpx-sse, WebSocket and OpenFeature clients, changes
made through the API and from separate `manage.py` processes, replay, filters and auth."""

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.live import LiveStack, stream_modes
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

MODES = stream_modes()


@pytest.fixture(scope="module", params=MODES)
def stack(request, tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("var"), pushpin=request.param == "pushpin",
                     extra_env={"STREAM_HEARTBEAT_SECONDS": "1",
                                "STREAM_AUTH_RECHECK_SECONDS": "1",
                                "SDK_RATE_LIMIT_PER_MINUTE": "0",
                                "STREAM_GAP_CHECK_SECONDS": "1"})
    with live.running():
        yield live


def key(stack, environment="development", kind="server"):
    return stack.credentials["keys"][environment][kind]


def state_url(flag, environment="development"):
    return f"/api/v1/projects/demo/environments/{environment}/flags/{flag}/"


def change_button_color(api) -> str:
    """Move button-color's off variant to another value (a real change, so an event)."""
    current = api.get(state_url("button-color")).json()["offVariant"]
    new = {"red": "green", "green": "blue", "blue": "red"}[current]
    api.patch(state_url("button-color"), json={"offVariant": new}).raise_for_status()
    return new


@pytest.fixture
def sdk_stream(stack):
    readers = []

    def open_stream(path="/api/sdk/stream", environment="development", headers=None,
                    edge=None, **kw):
        base = stack.base_url if edge is None else stack.edge_urls[edge]
        reader = SSEReader(base + path,
                           headers if headers is not None else
                           {"Authorization": key(stack, environment)}, **kw)
        readers.append(reader)
        return reader

    yield open_stream
    for reader in readers:
        reader.close()


def test_sdk_stream__put_then_change_made_through_the_api(stack, api, sdk_stream):
    stream = sdk_stream()
    assert stream.wait_open() == 200
    put = stream.next()
    assert put.event == "put" and put.id.startswith("environment-")
    assert set(put.json["flags"]) == {"new-checkout", "button-color"}
    version = put.json["flags"]["button-color"]["version"]
    started = time.monotonic()
    new = change_button_color(api)
    change = stream.next()
    elapsed = time.monotonic() - started
    assert change.event == "flag_updated"
    assert change.json["flagKey"] == "button-color" and change.json["version"] == version + 1
    assert change.json["flag"]["offVariant"] == new
    assert elapsed < 2


def test_sdk_stream__change_from_a_separate_manage_py_process(stack, sdk_stream):
    stream = sdk_stream()
    stream.next_of("put")
    stack.manage("set_flag", "demo", "development", "new-checkout", "--off")
    change = stream.next()
    assert (change.event, change.json["flagKey"]) == ("flag_disabled", "new-checkout")
    stack.manage("set_flag", "demo", "development", "new-checkout", "--on")
    assert stream.next().event == "flag_enabled"


def test_replay__last_event_id__exactly_the_missed_events(stack, api, sdk_stream):
    first = sdk_stream()
    last_id = first.next_of("put").id
    first.close()
    made = [change_button_color(api) for _ in range(3)]
    resumed = sdk_stream(headers={"Authorization": key(stack), "Last-Event-ID": last_id})
    got = [resumed.next() for _ in range(3)]
    assert [g.json["flag"]["offVariant"] for g in got] == made
    assert all(g.event == "flag_updated" for g in got)
    assert resumed.nothing_for(1.5)  # no put, nothing repeated
    # and with ?lastEventId= (EventSource cannot set headers on the first connection)
    again = sdk_stream(path=f"/api/sdk/stream?lastEventId={got[1].id}")
    assert again.next().id == got[2].id
    assert again.nothing_for(1)


def test_replay__id_too_old_or_unknown__stream_reset_then_put(stack, sdk_stream):
    stream = sdk_stream(headers={"Authorization": key(stack),
                                 "Last-Event-ID": "environment-1:999999"})
    assert stream.next().event == "stream-reset"
    assert stream.next().event == "put"


def test_replay__malformed_last_event_id__400(stack):
    response = httpx.get(f"{stack.base_url}/api/sdk/stream",
                         headers={"Authorization": key(stack), "Last-Event-ID": "nonsense"})
    assert response.status_code == 400 and response.json()["error"] == "bad_last_event_id"


def test_events_stream__flags_filter(stack, api, sdk_stream):
    stream = sdk_stream(path="/api/v1/events/stream?flags=new-checkout")
    assert stream.wait_open() == 200
    change_button_color(api)
    current = api.get(state_url("new-checkout")).json()["offVariant"]
    api.patch(state_url("new-checkout"),
              json={"offVariant": "true" if current == "false" else "false"}).raise_for_status()
    event = stream.next()
    assert event.json["flagKey"] == "new-checkout"  # the button-color change was filtered out


def test_events_stream__tags_filter(stack, api, sdk_stream):
    stream = sdk_stream(path="/api/v1/events/stream?tags=ui")
    assert stream.wait_open() == 200
    api.patch(state_url("new-checkout"), json={"offVariant": "false"}).raise_for_status()
    change_button_color(api)
    event = stream.next()
    assert event.json["flagKey"] == "button-color" and "ui" in event.json["tags"]


def test_events_stream__no_put_and_every_event_has_an_id(stack, api, sdk_stream):
    stream = sdk_stream(path="/api/v1/events/stream")
    assert stream.wait_open() == 200
    change_button_color(api)
    event = stream.next()
    assert event.event == "flag_updated" and event.id


def test_heartbeat__comment_every_configured_interval(stack):
    lines = []
    with httpx.stream("GET", f"{stack.base_url}/api/v1/events/stream",
                      headers={"Authorization": key(stack)}, timeout=10) as response:
        started = time.monotonic()
        for line in response.iter_lines():
            lines.append(line)
            if lines.count(":") >= 2 or time.monotonic() - started > 5:
                break
    assert lines.count(":") >= 2  # STREAM_HEARTBEAT_SECONDS=1 in this stack


@pytest.mark.parametrize("headers,query,status", [
    ({}, "", 401),
    ({"Authorization": "srv-wrong"}, "", 401),
    ({"X-API-Key": "cli-wrong"}, "", 401),
    ({}, "?sdkKey=srv-{server}", 401),
])
def test_stream_auth__bad_credentials__401_json(stack, headers, query, status):
    url = f"{stack.base_url}/api/sdk/stream" + query.format(server=key(stack)[4:])
    response = httpx.get(url, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]


def test_stream_auth__client_key_in_query_works_and_is_not_logged(stack, sdk_stream):
    client_key = key(stack, kind="client")
    stream = sdk_stream(path=f"/api/sdk/stream?sdkKey={client_key}", headers={})
    assert stream.next().event == "put"
    stream.close()
    httpx.get(f"{stack.base_url}/api/sdk/flags?sdkKey={client_key}").raise_for_status()
    time.sleep(0.5)
    log = (stack.var_dir / "server.log").read_text()
    assert "sdkKey=[redacted]" in log
    assert client_key not in log


def test_other_environment_key__does_not_hear_this_environment(stack, api, sdk_stream):
    production = sdk_stream(environment="production")
    assert production.next().json["environment"] == "production"
    change_button_color(api)
    assert production.nothing_for(1.5)


def test_revoked_key__open_stream_closes_within_seconds(stack, api, sdk_stream):
    created = api.post("/api/v1/projects/demo/environments/development/keys/",
                       json={"kind": "server"}).json()
    stream = sdk_stream(headers={"Authorization": created["key"]})
    assert stream.next().event == "put"
    started = time.monotonic()
    api.post(f"/api/v1/projects/demo/environments/development/keys/{created['id']}/revoke/")
    error = stream.next_of("stream-error", timeout=10)
    assert error.json["condition"] == "unauthorized"
    assert stream.closed.wait(5)
    assert time.monotonic() - started < 5
    assert httpx.get(f"{stack.base_url}/api/sdk/flags",
                     headers={"Authorization": created["key"]}).status_code == 401


# --- several Pushpin edges -------------------------------------------------------------------

def edges_of(stack):
    if not stack.pushpin:
        pytest.skip("edges are Pushpin's")
    assert len(stack.edge_urls) == 2
    return range(len(stack.edge_urls))


def test_edges__one_change__heard_on_streams_held_by_each_edge(stack, api, sdk_stream):
    streams = [sdk_stream(edge=edge) for edge in edges_of(stack)]
    for stream in streams:
        assert stream.next().event == "put"
    new = change_button_color(api)
    changes = [stream.next() for stream in streams]
    assert [c.json["flag"]["offVariant"] for c in changes] == [new, new]
    assert changes[0].id == changes[1].id  # the same event, the channel's id, on both


def test_edges__resume_on_the_other_edge__exactly_what_was_missed(stack, api, sdk_stream):
    edges_of(stack)
    first = sdk_stream(edge=0)
    assert first.next().event == "put"
    change_button_color(api)
    seen = first.next()
    first.close()
    missed = [change_button_color(api), change_button_color(api)]
    resumed = sdk_stream(edge=1, headers={"Authorization": key(stack),
                                          "Last-Event-ID": seen.id})
    replayed = [resumed.next(), resumed.next()]
    assert [r.json["flag"]["offVariant"] for r in replayed] == missed
    number = int(seen.id.rsplit(":", 1)[1])
    assert [r.id.rsplit(":", 1)[1] for r in replayed] == [str(number + 1), str(number + 2)]
    live = change_button_color(api)
    assert resumed.next().json["flag"]["offVariant"] == live  # and it follows on from there


def test_edges__revoked_key__streams_on_every_edge_closed(stack, api, sdk_stream):
    created = api.post("/api/v1/projects/demo/environments/development/keys/",
                       json={"kind": "server"}).json()
    streams = [sdk_stream(edge=edge, headers={"Authorization": created["key"]})
               for edge in edges_of(stack)]
    for stream in streams:
        assert stream.next().event == "put"
    api.post(f"/api/v1/projects/demo/environments/development/keys/{created['id']}/revoke/")
    for stream in streams:
        assert stream.next_of("stream-error", timeout=10).json["condition"] == "unauthorized"
        assert stream.closed.wait(5)


# --- WebSocket ------------------------------------------------------------------------------

def ws_url(stack, query=""):
    return stack.base_url.replace("http://", "ws://") + "/ws" + query


def test_ws__subscribe_evaluate_ping_and_pushed_changes(stack):
    async def scenario():
        async with websockets.connect(ws_url(stack),
                                      additional_headers={"X-API-Key": key(stack)}) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            await ws.send(json.dumps({"type": "subscribe", "flags": ["button-color"],
                                      "requestId": "s1"}))
            subscribed = json.loads(await ws.recv())
            assert subscribed["flags"] == ["button-color"] and subscribed["requestId"] == "s1"
            await ws.send(json.dumps({"type": "evaluate", "requestId": "e1",
                                      "flagKey": "button-color", "entityID": "user123",
                                      "entityContext": {"country": "US"}}))
            result = json.loads(await ws.recv())
            assert result["type"] == "evaluation_result" and result["requestId"] == "e1"
            assert result["result"]["variantKey"] == "green"
            await ws.send(json.dumps({"type": "ping", "requestId": "p1"}))
            assert json.loads(await ws.recv()) == {"type": "pong", "requestId": "p1",
                                                   "timestamp": None}
            await asyncio.to_thread(stack.manage, "set_flag", "demo", "development",
                                    "new-checkout", "--off")  # not subscribed: not pushed
            await asyncio.to_thread(stack.manage, "set_flag", "demo", "development",
                                    "button-color", "--default-variant", "blue")
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert pushed["type"] == "flag_updated" and pushed["flagKey"] == "button-color"
            await ws.send(json.dumps({"type": "unsubscribe", "flags": ["button-color"]}))
            assert json.loads(await ws.recv())["flags"] == []
            await ws.send(json.dumps({"type": "subscribe", "subscribeAll": True}))
            await ws.recv()
            await asyncio.to_thread(stack.manage, "set_flag", "demo", "development",
                                    "new-checkout", "--on")
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert pushed["flagKey"] == "new-checkout" and pushed["type"] == "flag_enabled"

    asyncio.run(scenario())


async def until_closed(ws, timeout=10):
    """Read until the server closes: (messages received, the ConnectionClosed raised).

    The server sends an error message and then closes with 4401; a proxy may drop the message
    (Pushpin does, sometimes), so only the close code is certain.
    """
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed as closed:
        return messages, closed


def test_ws__bad_messages__error_replies(stack):
    async def scenario():
        async with websockets.connect(ws_url(stack, f"?sdkKey={key(stack, kind='client')}")) as ws:
            await ws.recv()
            await ws.send("not json")
            assert json.loads(await ws.recv())["error"] == "parse_error"
            await ws.send(json.dumps({"type": "fly"}))
            assert json.loads(await ws.recv())["error"] == "unknown_type"
            await ws.send(json.dumps({"type": "subscribe", "flags": "x"}))
            assert json.loads(await ws.recv())["error"] == "validation_error"
            await ws.send(json.dumps({"type": "evaluate", "requestId": "x"}))
            assert json.loads(await ws.recv())["error"] == "validation_error"

    asyncio.run(scenario())


@pytest.mark.parametrize("headers,query", [({}, ""), ({"X-API-Key": "srv-nope"}, ""),
                                           ({}, "?sdkKey=cli-nope")])
def test_ws__bad_credentials__closed_4401(stack, headers, query):
    async def scenario():
        async with websockets.connect(ws_url(stack, query), additional_headers=headers) as ws:
            messages, closed = await until_closed(ws)
            assert closed.rcvd.code == 4401
            assert all(m["error"] in ("not_authenticated", "invalid_key") for m in messages)

    asyncio.run(scenario())


def test_ws__revoked_mid_connection__closed_4401(stack, api):
    created = api.post("/api/v1/projects/demo/environments/development/keys/",
                       json={"kind": "server"}).json()

    async def scenario():
        async with websockets.connect(ws_url(stack),
                                      additional_headers={"X-API-Key": created["key"]}) as ws:
            await ws.recv()
            await asyncio.to_thread(
                api.post, f"/api/v1/projects/demo/environments/development/keys/"
                          f"{created['id']}/revoke/")
            messages, closed = await until_closed(ws)
            assert closed.rcvd.code == 4401
            assert all(m.get("error") == "key_revoked" for m in messages)

    asyncio.run(scenario())


# --- OpenFeature ------------------------------------------------------------------------------

def test_ofrep__openfeature_sdk_with_the_ofrep_provider(stack, api):
    from openfeature import api as openfeature
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import ErrorCode, Reason

    api.patch(state_url("button-color"), json={
        "enabled": True, "defaultRule": {"variant": "red"},
        "rules": [{"constraints": [{"attribute": "country", "operator": "in",
                                    "values": ["US", "CA"]}], "variant": "green"}]})
    api.patch(state_url("new-checkout"), json={"enabled": True})
    openfeature.set_provider(OFREPProvider(stack.base_url,
                                           headers_factory=lambda: {"X-API-Key": key(stack)}))
    client = openfeature.get_client()
    us = EvaluationContext(targeting_key="user-1", attributes={"country": "US"})
    details = client.get_string_details("button-color", "fallback", us)
    assert (details.value, details.variant, details.reason) == ("green", "green",
                                                                Reason.TARGETING_MATCH)
    assert client.get_string_value("button-color", "fallback",
                                   EvaluationContext("user-2", {"country": "DE"})) == "red"
    assert client.get_boolean_value("new-checkout", False, us) is True
    missing = client.get_boolean_details("no-such-flag", True, us)
    assert missing.value is True and missing.error_code == ErrorCode.FLAG_NOT_FOUND
    mismatch = client.get_boolean_details("button-color", False, us)
    assert mismatch.value is False and mismatch.error_code == ErrorCode.TYPE_MISMATCH

    openfeature.set_provider(OFREPProvider(stack.base_url,
                                           headers_factory=lambda: {"X-API-Key": "srv-wrong"}))
    denied = openfeature.get_client().get_string_details("button-color", "fallback", us)
    assert denied.value == "fallback" and denied.error_code == ErrorCode.GENERAL


def test_ofrep__event_stream_sends_refetch_evaluation_on_change(stack, api, sdk_stream):
    base = stack.base_url
    bulk = httpx.post(f"{base}/ofrep/v1/evaluate/flags",
                      headers={"X-API-Key": key(stack, kind="client")},
                      json={"context": {"targetingKey": "u"}})
    assert bulk.status_code == 200
    url = bulk.json()["eventStreams"][0]["url"]
    assert url.startswith(base)
    stream = sdk_stream(path=url[len(base):], headers={})
    assert stream.wait_open() == 200
    change_button_color(api)
    notice = stream.next()
    assert notice.event == "message" and notice.id
    assert notice.json["type"] == "refetchEvaluation" and notice.json["etag"]
    refetched = httpx.post(f"{stack.base_url}/ofrep/v1/evaluate/flags",
                           headers={"X-API-Key": key(stack, kind="client"),
                                    "If-None-Match": bulk.headers["ETag"]},
                           json={"context": {"targetingKey": "u"}})
    assert refetched.status_code in (200, 304)


def test_ofrep__event_stream_bad_token__401(stack):
    assert httpx.get(f"{stack.base_url}/ofrep/v1/stream?token=nope").status_code == 401
    assert httpx.get(f"{stack.base_url}/ofrep/v1/stream").status_code == 401


LOST_EVENT = (
    "import json; from streaming.storage import EventStorage; "
    "from flags.models import Environment; "
    "env = Environment.objects.get(key='development'); "
    "EventStorage().append_event(f'environment-{{env.id}}', 'flag_updated', json.dumps("
    "{{'type': 'flag_updated', 'flagKey': 'lost-{n}', 'version': 1, 'tags': [], 'flag': None}}))"
)


def test_lost_message__stored_but_never_published__still_delivered_in_order(stack, sdk_stream):
    """A message lost on the way (stored, never published) is noticed at the next one: with
    Redis by the id gap, through Pushpin by its recover request, embedded by the tailer."""
    stream = sdk_stream(path="/api/v1/events/stream")
    assert stream.wait_open() == 200
    stack.manage("shell", "-c", LOST_EVENT.format(n=1))
    stack.manage("set_flag", "demo", "development", "new-checkout", "--off")
    first, second = stream.next(), stream.next()
    assert first.json["flagKey"] == "lost-1"
    assert (second.event, second.json["flagKey"]) == ("flag_disabled", "new-checkout")
    assert int(second.id.split(":")[1]) == int(first.id.split(":")[1]) + 1
    stack.manage("set_flag", "demo", "development", "new-checkout", "--on")
    assert stream.next().event == "flag_enabled"


def test_lost_last_message__caught_up_by_the_periodic_check(stack, sdk_stream):
    if stack.pushpin:
        pytest.skip("Pushpin learns of a gap only from the next message it is given")
    stream = sdk_stream(path="/api/v1/events/stream")
    assert stream.wait_open() == 200
    stack.manage("shell", "-c", LOST_EVENT.format(n=2))
    assert stream.next(timeout=10).json["flagKey"] == "lost-2"


def test_rotated_key__stream_closes_when_the_grace_period_ends(stack, api, sdk_stream):
    created = api.post("/api/v1/projects/demo/environments/development/keys/",
                       json={"kind": "server"}).json()
    stream = sdk_stream(headers={"Authorization": created["key"]})
    assert stream.next().event == "put"
    rotated = api.post(f"/api/v1/projects/demo/environments/development/keys/{created['id']}"
                       "/rotate/", json={"graceSeconds": 1})
    assert rotated.status_code == 201
    time.sleep(1.5)
    # What beat runs every 30 s (it closes Pushpin-held streams; the hub closes its own).
    stack.manage("shell", "-c", "from flags.tasks import close_expired_key_streams; "
                                "close_expired_key_streams()")
    error = stream.next_of("stream-error", timeout=10)
    assert error.json["condition"] == "unauthorized"
    assert stream.closed.wait(5)
    replacement = httpx.get(f"{stack.base_url}/api/sdk/flags",
                            headers={"Authorization": rotated.json()["key"]})
    assert replacement.status_code == 200
