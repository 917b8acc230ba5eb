"""The hub's direct path: while a stream's consumer waits on an empty queue, events and
heartbeats go straight to its writer (no queue, no task wake-up); whatever the writer declines
is queued, and nothing overtakes what is queued. ``streaming.sse.direct_writer`` is the SSE
writer: each event once, in id order, the stream's last event left to the pump, and a client
with too much unread makes the pump wait."""

from __future__ import annotations

import asyncio

import pytest

from streaming.frames import HEARTBEAT_FRAME, StreamEvent
from streaming.hub import BACKED_UP, HEARTBEAT, Hub, Subscription
from streaming.kinds import StreamKind
from streaming.sse import direct_writer


def event(event_id: int, event_type: str = "changed") -> StreamEvent:
    return StreamEvent("c", event_id, event_type, f'{{"n": {event_id}}}')


class Recorder:
    """A writer that takes everything but the ids it is told to decline."""

    def __init__(self):
        self.items, self.decline = [], set()

    def __call__(self, item) -> bool:
        if getattr(item, "id", None) in self.decline:
            return False
        self.items.append(item)
        return True

    @property
    def ids(self):
        return [getattr(item, "id", item) for item in self.items]


def recorded() -> tuple[Subscription, Recorder, Hub]:
    """A subscription with a Recorder for its writer, alone on channel "c" of a hub."""
    subscription = Subscription("c")
    subscription.writer = writer = Recorder()
    hub = Hub()
    hub.last_ids["c"] = 0
    hub.subscriptions["c"] = {subscription}
    return subscription, writer, hub


async def waiting(subscription: Subscription) -> asyncio.Future:
    """Its consumer, waiting in next() (so the writer is the sink) until an item is queued."""
    consumer = asyncio.ensure_future(subscription.next())
    await asyncio.sleep(0)
    return consumer


def test_dispatch__consumer_waiting__events_go_to_its_writer_and_it_stays_asleep():
    async def scenario():
        subscription, writer, hub = recorded()
        consumer = await waiting(subscription)
        hub.dispatch(event(1))
        hub.dispatch(event(2))
        await asyncio.sleep(0)
        assert writer.ids == [1, 2]
        assert not consumer.done() and subscription.queue.qsize() == 0
        consumer.cancel()

    asyncio.run(scenario())


def test_dispatch__writer_declines__queued_and_later_events_wait_behind_it():
    async def scenario():
        subscription, writer, hub = recorded()
        consumer = await waiting(subscription)
        writer.decline = {3}
        hub.dispatch(event(3))
        hub.dispatch(event(4))  # before the consumer ran: must not overtake 3
        assert (await consumer).id == 3
        assert (await subscription.next()).id == 4
        assert writer.ids == []

    asyncio.run(scenario())


def test_dispatch__consumer_busy__events_queued_not_written():
    async def scenario():
        subscription, writer, hub = recorded()
        hub.dispatch(event(1))  # nobody waits in next(): the writer is not the sink
        assert writer.ids == [] and subscription.queue.qsize() == 1
        assert (await subscription.next()).id == 1

    asyncio.run(scenario())


def test_push__heartbeat__written_while_waiting_else_queued():
    async def scenario():
        subscription, writer, _ = recorded()
        assert subscription.push(HEARTBEAT)
        assert writer.items == [] and subscription.queue.qsize() == 1
        assert await subscription.next() is HEARTBEAT
        consumer = await waiting(subscription)
        assert subscription.push(HEARTBEAT)
        assert writer.items == [HEARTBEAT] and not consumer.done()
        consumer.cancel()

    asyncio.run(scenario())


class FakeTransport:
    def __init__(self):
        self.written, self.refuse, self.full = [], False, False

    def write_now(self, body: bytes) -> bool:
        if self.refuse:
            return False
        self.written.append(body)
        return True

    def backed_up(self) -> bool:
        return self.full


class EndsOnDone(StreamKind):
    name = "test-direct"

    def ends_after(self, event) -> bool:
        return event.type == "done"


def test_direct_writer__each_event_once_in_id_order_and_counted():
    subscription, transport = Subscription("c"), FakeTransport()
    write = direct_writer(EndsOnDone(), subscription, transport)
    assert write(event(5)) and write(event(5)) and write(event(4))
    assert transport.written == [event(5).frame()]
    assert (subscription.last_id, subscription.delivered) == (5, 1)
    assert write(HEARTBEAT)
    assert transport.written[-1] == HEARTBEAT_FRAME and subscription.delivered == 1


def test_direct_writer__last_event_of_the_stream__left_to_the_pump():
    subscription, transport = Subscription("c"), FakeTransport()
    write = direct_writer(EndsOnDone(), subscription, transport)
    assert not write(event(1, "done"))
    assert transport.written == [] and subscription.last_id == 0


def test_direct_writer__socket_not_free__declined_and_nothing_noted():
    subscription, transport = Subscription("c"), FakeTransport()
    transport.refuse = True
    write = direct_writer(EndsOnDone(), subscription, transport)
    assert not write(event(1)) and not write(HEARTBEAT)
    assert (subscription.last_id, subscription.delivered) == (0, 0)


@pytest.mark.parametrize("item", [event(1), HEARTBEAT])
def test_direct_writer__client_backed_up__pump_woken_to_wait_and_writer_off(item):
    async def scenario():
        subscription, transport = Subscription("c"), FakeTransport()
        subscription.writer = write = direct_writer(EndsOnDone(), subscription, transport)
        consumer = await waiting(subscription)
        transport.full = True
        assert subscription.push(item)
        assert len(transport.written) == 1
        assert subscription.sink is None
        assert await consumer is BACKED_UP
        assert write is subscription.writer  # back on once the pump waits again

    asyncio.run(scenario())
