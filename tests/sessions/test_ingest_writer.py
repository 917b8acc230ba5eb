"""The ingest writer (group commit) on its own: many requests at once, copies in one batch and
across batches, one failing event (the batch falls back to one by one), and answers only
after the commit."""

import json
import threading

import pytest
from django.db import transaction

from sessions_app.envelope import parse_event
from sessions_app.ingest_writer import IngestWriter
from sessions_app.models import Conversation, IngestEvent, Message
from tenancy import services as tenancy_services

from .recorded import conversation_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer(settings):
    from sessions_app.services import writer as configured

    settings.INGEST_BATCH_SIZE = 50
    return IngestWriter(configured.apply, configured.first_answer, lock=configured.lock,
                        batched=configured.batched, apply_many=configured.apply_many)


def test_writer__concurrent_events_with_copies__each_stored_once_and_answered(
        writer, organization):
    api_key, _ = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    events = [parse_event(e) for e in conversation_events(messages=40)]
    sent = events + events[1:11]  # ten copies
    answers = [None] * len(sent)

    def send(index):
        answers[index] = writer.submit(api_key, sent[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sent))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(answer is not None for answer in answers)
    duplicates = [a for a in answers if a.body.get("duplicate")]
    assert len(duplicates) == 10
    assert Message.objects.count() == 40 and IngestEvent.objects.count() == len(events)
    assert Conversation.objects.get().message_count == 40
    assert writer.batches < len(sent)  # events were committed together
    assert writer.events == len(sent)


def test_writer__a_failing_event__fails_alone(writer, organization, monkeypatch):
    from sessions_app import services

    api_key, _ = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    started, good, bad = (parse_event(json.loads(json.dumps(e)))
                          for e in conversation_events(messages=2)[:3])
    original = services.messages_apply

    def explode_on_msg_1(items, locked=None):  # in the batch, and again one by one
        if any(event.data.get("message_id") == "msg-1" for _, event in items):
            raise RuntimeError("boom")
        return original(items, locked)

    monkeypatch.setattr(services, "messages_apply", explode_on_msg_1)
    results = {}

    def send(name, event):
        try:
            results[name] = writer.submit(api_key, event)
        except RuntimeError as exc:
            results[name] = exc

    threads = [threading.Thread(target=send, args=item) for item in
               [("started", started), ("good", good), ("bad", bad)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(results["bad"], RuntimeError)
    assert results["good"].status == 201 and results["started"].status == 201
    assert list(Message.objects.values_list("client_id", flat=True)) == ["msg-0"]


def test_writer__batched_messages__store_what_one_by_one_stores(writer, organization):
    """Messages applied together (messages_apply) and one by one (event_apply) end the same."""
    import random

    from sessions_app import services

    from .test_ingest import stored

    api_key, _ = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    events = [parse_event(e) for e in conversation_events(messages=30)]
    for event in events:
        with transaction.atomic():  # as every caller of event_apply
            services.event_apply(api_key, event)
    expected = stored()
    Conversation.objects.all().delete()
    IngestEvent.objects.all().delete()
    shuffled = events[1:] + events[5:9]  # messages (and copies) before started
    random.Random(3).shuffle(shuffled)
    shuffled.append(events[0])
    threads = [threading.Thread(target=writer.submit, args=(api_key, event))
               for event in shuffled]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert stored() == expected


def test_two_writers__same_conversations_in_opposite_orders__neither_waits_on_the_other(
        writer, organization, caplog):
    """Two server processes' writers (here two threads, each its own connection), each with
    batches naming the same conversations, one in the reverse order of the other, some of
    them new: every batch commits whole — no deadlock undoes one (on PostgreSQL its check
    would, after a second each) — and every message is counted once."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's writers take turns (streaming.db.writer_turn)")
    api_key, _ = tenancy_services.api_key_create(organization=organization, scopes=["ingest"])
    names = [f"lock-{n}" for n in range(8)]
    for name in names[:4]:  # half there already, half made by the batches
        writer.submit(api_key, parse_event(conversation_events(name, messages=0)[0]))
    messages = {name: [parse_event(e) for e in conversation_events(name, messages=40)[1:41]]
                for name in names}
    failed = []

    def write(batches):
        try:
            for batch in batches:
                answers = writer.write(batch)
                failed.extend(a for a in answers if isinstance(a, Exception))
        finally:
            connection.close()

    rounds = 10  # each thread: 2 messages of every conversation a batch, its own messages
    forward = [[(api_key, messages[name][r * 4 + k]) for name in names for k in (0, 1)]
               for r in range(rounds)]
    backward = [[(api_key, messages[name][r * 4 + k]) for name in reversed(names)
                 for k in (2, 3)] for r in range(rounds)]
    threads = [threading.Thread(target=write, args=(batches,)) for batches in (forward,
                                                                               backward)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failed == []
    assert not [r for r in caplog.records if "deadlock" in r.getMessage().lower()
                or "failed together" in r.getMessage()]
    counts = dict(Conversation.objects.values_list("client_id", "message_count"))
    assert counts == {name: 40 for name in names}
    assert Message.objects.count() == 40 * len(names)
