"""The streaming backbone, in process, for every stream kind: the three flag streams and a
throw-away kind the tests register (tests/streaming/notes) with no change inside streaming/.

Each case opens streams on the project's own ASGI application (no server, no socket) and
publishes through ``streaming.broadcast.publish``, as every service does.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Callable

import jwt
import pytest
from django_eventstream.models import Event
from gripcontrol import parse_grip_uri

from config.asgi import application
from flags import services
from flags.channels import environment_channel
from streaming.broadcast import publish
from streaming.hub import Hub, RedisSource, Subscription
from streaming.kinds import registry
from tests.conftest import TEST_ACTOR
from tests.factories import EnvironmentFactory
from tests.streaming.notes.streams import note_key_revoke, revoked_file

from .asgi_client import Stream

pytestmark = pytest.mark.django_db(transaction=True)

GRIP_KEY = "backbone-test-grip-key-of-32-bytes-or-more"


@pytest.fixture(autouse=True)
def fast_backbone(settings):
    settings.STREAM_AUTH_RECHECK_SECONDS = 0.2
    settings.STREAM_GAP_CHECK_SECONDS = 0.5
    settings.STREAM_POLL_SECONDS = 0.05
    revoked_file().unlink(missing_ok=True)
    yield
    revoked_file().unlink(missing_ok=True)


@dataclass
class Case:
    """How to open, feed and revoke a stream of one kind."""

    kind: str
    query: str
    headers: dict
    channel: str
    opening: str | None  # the event a new or reset stream starts with
    event_type: str  # how a published event reaches the client
    revoke: Callable[[], None]

    @property
    def path(self) -> str:
        return registry.kinds[self.kind].path

    def open(self, last_event_id: str | None = None, **kw) -> Stream:
        headers = dict(self.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return Stream(application, self.path, self.query, headers, **kw)

    async def publish(self, count: int = 1) -> None:
        published = {"notes": "note", "sessions": "message.created"}.get(self.kind,
                                                                          "flag_updated")
        for n in range(count):
            await asyncio.to_thread(publish, self.channel, published,
                                    {"flagKey": "f", "tags": [], "n": n,
                                     "conversation_id": "c"})

    def event_id(self, n: int) -> str:
        return f"{self.channel}:{n}"


def flag_case(kind: str) -> Case:
    environment = EnvironmentFactory()
    sdk_key, raw_key = services.sdk_key_create(environment=environment, kind="server",
                                               actor=TEST_ACTOR)
    query, headers = "", {"Authorization": f"Bearer {raw_key}"}
    if kind == "ofrep":
        from flags.tokens import sdk_stream_token_issue

        query, headers = f"token={sdk_stream_token_issue(sdk_key)}", {}
    return Case(kind=kind, query=query, headers=headers,
                channel=environment_channel(environment.id),
                opening="put" if kind == "sdk" else None,
                event_type="message" if kind == "ofrep" else "flag_updated",
                revoke=lambda: services.sdk_key_revoke(sdk_key=sdk_key, actor=TEST_ACTOR))


def notes_case() -> Case:
    return Case(kind="notes", query="board=lobby&key=7", headers={}, channel="note-lobby",
                opening="hello", event_type="note", revoke=lambda: note_key_revoke(7))


def sessions_case() -> Case:
    from sessions_app.channels import sessions_channel
    from tenancy import services as tenancy_services
    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    api_key, raw_key = tenancy_services.api_key_create(organization=organization,
                                                       scopes=["read"])
    return Case(kind="sessions", query="", headers={"Authorization": f"Bearer {raw_key}"},
                channel=sessions_channel(organization.pk), opening=None,
                event_type="message.created",
                revoke=lambda: tenancy_services.api_key_revoke(api_key=api_key))


KINDS = ["notes", "sdk", "events", "ofrep", "sessions"]
CASES = {"notes": notes_case, "sessions": sessions_case}


@pytest.fixture(params=KINDS)
def case(request) -> Case:
    return CASES[request.param]() if request.param in CASES else flag_case(request.param)


def run(coro):
    """Run a scenario on an event loop of its own, the hub stopped before the loop closes."""
    from streaming.hub import hub

    async def scenario_then_stop():
        try:
            return await coro
        finally:
            await hub.stop()

    return asyncio.run(scenario_then_stop())


def test_registry__every_kind_of_every_app__registered():
    assert set(KINDS) <= set(registry.kinds)
    assert registry.for_path("/test/notes/stream/").name == "notes"


def test_open__new_stream__stream_open_then_opening_then_published_events(case):
    async def scenario():
        stream = case.open()
        await stream.wait_for(lambda s: s.status is not None and b"stream-open" in s.body)
        if case.opening:
            await stream.wait_for(lambda s: s.events(case.opening))
        await case.publish(2)
        await stream.wait_for(lambda s: len(s.events(case.event_type)) == 2)
        await stream.close()
        return stream

    stream = run(scenario())
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.frames[0].event == "stream-open"
    if case.opening:
        assert stream.frames[1].event == case.opening
    assert [f.id for f in stream.events(case.event_type)] == [case.event_id(1),
                                                              case.event_id(2)]


def test_open__no_credential__401_json(case):
    async def scenario():
        stream = Stream(application, case.path, "board=lobby" if case.kind == "notes" else "")
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    assert stream.status == 401
    assert json.loads(stream.body)["error"]


def test_replay__last_event_id__exactly_what_was_missed(case):
    async def scenario():
        await case.publish(4)
        stream = case.open(last_event_id=case.event_id(1))
        await stream.wait_for(lambda s: s.events(case.event_type))
        await case.publish(1)
        await stream.wait_for(lambda s: case.event_id(5) in [f.id for f in s.frames])
        await stream.close()
        return stream

    stream = run(scenario())
    ids = [f.id for f in stream.events(case.event_type)]
    if registry.kinds[case.kind].latest_only:
        assert ids == [case.event_id(4), case.event_id(5)]  # one refetch covers the missed
    else:
        assert ids == [case.event_id(n) for n in (2, 3, 4, 5)]
    assert not stream.events("stream-reset")
    assert not case.opening or not stream.events(case.opening)


def test_replay__last_event_id_query_parameter__same_as_header(case):
    async def scenario():
        await case.publish(2)
        stream = Stream(application, case.path,
                        "&".join(filter(None, [case.query, f"lastEventId={case.event_id(1)}"])),
                        case.headers)
        await stream.wait_for(lambda s: s.events(case.event_type))
        await stream.close()
        return stream

    assert [f.id for f in run(scenario()).events(case.event_type)] == [case.event_id(2)]


def test_reset__last_event_id_no_longer_stored__stream_reset_then_opening(case):
    async def scenario():
        await case.publish(3)
        await asyncio.to_thread(lambda: Event.objects.filter(channel=case.channel,
                                                             eid__lte=2).delete())
        stream = case.open(last_event_id=case.event_id(0))
        await stream.wait_for(lambda s: s.events("stream-reset"))
        if case.opening:
            await stream.wait_for(lambda s: s.events(case.opening))
        await case.publish(1)
        await stream.wait_for(lambda s: s.events(case.event_type))
        await stream.close()
        return stream

    stream = run(scenario())
    reset = stream.events("stream-reset")[0]
    assert json.loads(reset.data) == {"channels": [case.channel]}
    assert reset.id == case.event_id(3)
    names = [f.event for f in stream.frames]
    if case.opening:
        assert names.index("stream-reset") < names.index(case.opening)
    assert [f.id for f in stream.events(case.event_type)] == [case.event_id(4)]


def test_reset__malformed_last_event_id__400(case):
    async def scenario():
        stream = case.open(last_event_id="not-an-id")
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    assert stream.status == 400
    assert json.loads(stream.body)["error"] == "bad_last_event_id"


def test_revocation__credential_revoked_while_open__error_frame_and_end(case):
    async def scenario():
        stream = case.open()
        await stream.wait_for(lambda s: b"stream-open" in s.body)
        await asyncio.to_thread(case.revoke)
        started = time.monotonic()
        await stream.wait_for(lambda s: s.ended.is_set(), timeout=5)
        return stream, time.monotonic() - started

    stream, took = run(scenario())
    error = stream.frames[-1]
    assert (error.event, error.id) == ("stream-error", "error")
    assert json.loads(error.data)["condition"] == "unauthorized"
    assert took < 2


def test_revocation__revoked_credential__cannot_open(case):
    case.revoke()

    async def scenario():
        stream = case.open()
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    assert run(scenario()).status == 401


def test_heartbeat__comment_line_every_interval(case, settings):
    settings.STREAM_HEARTBEAT_SECONDS = 0.1

    async def scenario():
        stream = case.open()
        await stream.wait_for(lambda s: s.body.count(b"\n:\n") + s.body.startswith(b":\n") >= 2)
        await stream.close()
        return stream

    assert b":\n" in run(scenario()).body


def test_slow_consumer__queue_overflows__caught_up_from_storage_in_order(case, settings):
    settings.STREAM_QUEUE_SIZE = 3

    async def scenario():
        stream = case.open(slow=True)
        await stream.wait_for(lambda s: s.status == 200)
        await case.publish(12)  # far more than the queue holds while the client does not read
        await asyncio.sleep(0.5)
        stream.flow()
        await stream.wait_for(lambda s: case.event_id(12) in [f.id for f in s.frames])
        await stream.close()
        return stream

    ids = [f.id for f in run(scenario()).events(case.event_type)]
    assert ids == sorted(set(ids), key=lambda i: int(i.rsplit(":", 1)[1]))  # in order, once
    assert ids[-1] == case.event_id(12)
    if not registry.kinds[case.kind].latest_only:
        assert ids == [case.event_id(n) for n in range(1, 13)]


def grip_headers(settings) -> dict:
    url = f"http://127.0.0.1:5561?iss=pushpin&key={GRIP_KEY}"
    settings.GRIP_URLS, settings.GRIP_PROXIES = [url], [parse_grip_uri(url)]
    return {"Grip-Sig": jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, GRIP_KEY)}


def test_pushpin__eligible_kind__hold_instruction_with_credential_channel(case, settings):
    signed = grip_headers(settings)

    async def scenario():
        stream = Stream(application, case.path, case.query, {**case.headers, **signed})
        await stream.wait_for(lambda s: b"stream-open" in s.body, timeout=5)
        await stream.close()
        return stream

    stream = run(scenario())
    kind = registry.kinds[case.kind]
    if not kind.grip_eligible(kind_request(case)):
        # Pushpin cannot hold a re-rendered stream as it is: the origin holds it.
        assert "grip-hold" not in stream.headers and stream.status == 200
        return
    assert stream.headers["grip-hold"] == "stream"
    channels = stream.headers["grip-channel"]
    assert f"events-{case.channel}" in channels
    assert ("notekey-7" if case.kind == "notes" else "sdkkey-") in channels
    assert "credential=" in stream.headers["grip-link"]
    assert stream.frames[0].event == "stream-open"


def kind_request(case):
    from streaming.kinds import StreamRequest

    return StreamRequest({"path": case.path, "query_string": case.query.encode(),
                          "headers": []})


def test_pushpin__unsigned_request__400(case, settings):
    grip_headers(settings)

    async def scenario():
        stream = Stream(application, case.path, case.query,
                        {**case.headers, "Grip-Sig": "forged"})
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(scenario())
    assert stream.status == 400
    assert json.loads(stream.body)["error"] == "bad_proxy_signature"


def follow_up_link(case, settings) -> str:
    """The next link Pushpin would follow, as the hold instruction gave it."""
    signed = grip_headers(settings)

    async def scenario():
        stream = Stream(application, case.path, case.query, {**case.headers, **signed})
        await stream.wait_for(lambda s: s.ended.is_set(), timeout=5)
        return stream

    link = run(scenario()).headers["grip-link"]
    return link[1:link.index(">")]


@pytest.mark.parametrize("case", ["notes", "sdk"], indirect=True)
def test_pushpin_follow_up__active_credential__held_again_on_its_channels(case, settings,
                                                                           client):
    link = follow_up_link(case, settings)
    signed = grip_headers(settings)
    response = client.get(link, headers=signed)
    assert response.status_code == 200
    assert response["Grip-Hold"] == "stream"
    assert f"events-{case.channel}" in response["Grip-Channel"]
    credential_channel = link.split("credential=")[1].split("&")[0]
    assert credential_channel in response["Grip-Channel"]


@pytest.mark.parametrize("case", ["notes", "sdk"], indirect=True)
def test_pushpin_follow_up__credential_revoked_meanwhile__error_frame(case, settings, client):
    link = follow_up_link(case, settings)
    case.revoke()
    response = client.get(link, headers=grip_headers(settings))
    assert b"event: stream-error" in response.content
    assert "Grip-Hold" not in response


def test_lost_redis_message__gap_in_ids__repaired_from_storage_in_order(case):
    """A RedisSource that is handed event 4 when it last saw 1 reads 2 and 3 from storage."""

    async def scenario():
        await case.publish(4)
        hub = Hub()  # a hub of its own, fed only what the test hands it
        subscription = Subscription(case.channel)
        hub.subscriptions[case.channel] = {subscription}
        hub.last_ids[case.channel] = 1
        stored = await asyncio.to_thread(
            lambda: Event.objects.get(channel=case.channel, eid=4))
        await RedisSource(hub)._handle({"channel": case.channel, "pub_id": 4,
                                        "event_type": stored.type, "data": json.loads(stored.data)})
        return [subscription.queue.get_nowait().id for _ in range(subscription.queue.qsize())]

    assert run(scenario()) == [2, 3, 4]


def test_publish_many__stored_and_replayed_exactly_as_publish_one_by_one(db):
    """publish_many stores several events with one counter update; what a stream reads back is
    what publish() stores for the same events, ids in order."""
    from streaming.broadcast import publish_many
    from streaming.selectors import read_events

    publish("one-by-one", "note", {"n": 0, "text": "é"})
    publish("one-by-one", "note", {"n": 1})
    publish_many([("together", "note", {"n": 0, "text": "é"}), ("together", "note", {"n": 1}),
                  ("elsewhere", "other", {"x": True})])
    one = [(e.id, e.type, e.data) for e in read_events("one-by-one", 0, 10)]
    many = [(e.id, e.type, e.data) for e in read_events("together", 0, 10)]
    assert one == many and [e[0] for e in many] == [1, 2]
    assert read_events("elsewhere", 0, 10)[0].payload == {"x": True}
    publish("together", "note", {"n": 2})  # the counter goes on from the batch
    assert [e.id for e in read_events("together", 0, 10)] == [1, 2, 3]


def test_append_many__new_and_existing_channels__consecutive_ids_and_counters_moved(db):
    """One append for several channels: each channel's ids go on from its own counter, a new
    channel starts at 1, and every counter is marked updated (the table tailer finds them)."""
    from django.utils import timezone
    from django_eventstream.models import EventCounter

    from streaming.broadcast import publish_many
    from streaming.selectors import counters_changed_since, read_events

    publish("old", "note", {"n": 1})
    before = timezone.now()
    publish_many([("old", "note", {"n": 2}), ("new", "note", {"n": 1}),
                  ("old", "note", {"n": 3}), ("new", "note", {"n": 2})])
    assert [(e.id, e.payload["n"]) for e in read_events("old", 0)] == [(1, 1), (2, 2), (3, 3)]
    assert [(e.id, e.payload["n"]) for e in read_events("new", 0)] == [(1, 1), (2, 2)]
    assert dict(EventCounter.objects.values_list("name", "value")) == {"old": 3, "new": 2}
    assert dict(counters_changed_since(before)) == {"old": 3, "new": 2}


def test_read_events_many__each_channel_its_own_range__channel_then_id_order(db):
    from streaming.broadcast import publish_many
    from streaming.selectors import read_events_many

    publish_many([(channel, "note", {"n": n}) for n in range(1, 6) for channel in "abc"])
    got = read_events_many({"a": (0, 2), "b": (3, 5), "c": (5, 5)})
    assert [(e.channel, e.id, e.payload["n"]) for e in got] == [
        ("a", 1, 1), ("a", 2, 2), ("b", 4, 4), ("b", 5, 5)]
    assert [(e.channel, e.id) for e in read_events_many({"a": (0, 5), "b": (0, 5)}, limit=3)] \
        == [("a", 1), ("a", 2), ("a", 3)]
    assert read_events_many({}) == []


def test_catch_up_many__more_channels_and_events_than_one_read__every_event_once_in_order(
        db, monkeypatch):
    """The table tailer catches up every channel that moved with a few reads: with reads of
    2 channels and 3 events at most, 5 channels of 4 new events each still arrive whole."""
    from streaming import hub as hub_module
    from streaming.broadcast import publish_many

    monkeypatch.setattr(hub_module, "CATCH_UP_CHANNELS", 2)
    monkeypatch.setattr(hub_module, "CATCH_UP_LIMIT", 3)
    channels = [f"many-{n}" for n in range(5)]
    publish_many([(channel, "note", {"n": 0}) for channel in channels])  # ids 1: seen already

    async def scenario():
        await asyncio.to_thread(publish_many, [(channel, "note", {"n": n})
                                               for n in range(1, 5) for channel in channels])
        hub = Hub()
        subscriptions = {}
        for channel in channels:
            subscriptions[channel] = Subscription(channel)
            hub.subscriptions[channel] = {subscriptions[channel]}
            hub.last_ids[channel] = 1
        await hub.catch_up_many({channel: 5 for channel in channels})
        return {channel: [s.queue.get_nowait().id for _ in range(s.queue.qsize())]
                for channel, s in subscriptions.items()}

    assert run(scenario()) == {channel: [2, 3, 4, 5] for channel in channels}
