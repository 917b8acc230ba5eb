"""The SDK's analytics recorder without a server: what a flush sends, and what it keeps when
the send fails (sent again with the same payload id)."""

from __future__ import annotations

from flagstream.analytics import EventRecorder


class FakeServer:
    def __init__(self, answers=()):
        self.answers = list(answers)  # statuses or exceptions, in order; then 202
        self.received: list[tuple[str, dict]] = []

    def __call__(self, body, payload_id):
        self.received.append((payload_id, body))
        answer = self.answers.pop(0) if self.answers else 202
        if isinstance(answer, Exception):
            raise answer
        return answer


def recorder(server, **options):
    return EventRecorder(server, flush_interval=3600, **options)


def test_flush__counts_per_context__summary_without__and_events():
    server = FakeServer()
    rec = recorder(server)
    for _ in range(3):
        rec.record("checkout", "on", "TARGETING_MATCH", "u1")
    rec.record("checkout", "on", "TARGETING_MATCH", "u2")
    rec.record("checkout", "off", "DEFAULT", None)  # no targeting key: a summary count
    rec.record("checkout", "off", "DEFAULT", None)
    rec.track("signup", "u1", 2.5, {"plan": "pro"})
    assert rec.flush() is True
    (payload_id, body), = server.received
    assert sorted((e["contextId"], e["count"]) for e in body["evaluations"]) == [("u1", 3),
                                                                               ("u2", 1)]
    assert body["summary"]["flags"] == {"checkout": {"off": 2}}
    assert [(e["name"], e["contextId"], e["value"], e["details"]) for e in body["events"]] == [
        ("signup", "u1", 2.5, {"plan": "pro"})]
    assert len(payload_id) == 32
    assert rec.flush() is True and len(server.received) == 1  # nothing new: nothing sent
    rec.close()


def test_failed_flush__sent_again_with_the_same_id_before_anything_newer():
    server = FakeServer([ConnectionError("down"), 503])
    rec = recorder(server)
    rec.record("a", "on", "STATIC", "u1")
    assert rec.flush() is False and rec.pending == 1
    rec.record("b", "on", "STATIC", "u1")
    assert rec.flush() is False and rec.pending == 2  # 503: kept too
    assert rec.flush() is True and rec.pending == 0
    ids = [payload_id for payload_id, _ in server.received]
    assert ids[0] == ids[1] == ids[2]  # the first payload, three times, same id
    assert ids[3] != ids[0]
    assert [body["evaluations"][0]["flagKey"] for _, body in server.received] == [
        "a", "a", "a", "b"]
    rec.close()


def test_refused_payload__dropped_not_retried():
    server = FakeServer([400])
    rec = recorder(server)
    rec.record("a", "on", "STATIC", "u1")
    assert rec.flush() is True and rec.pending == 0
    rec.close()
    assert len(server.received) == 1


def test_too_many_contexts__counted_in_the_summary():
    server = FakeServer()
    rec = recorder(server, max_contexts=2)
    for user in ("u1", "u2", "u3", "u1"):
        rec.record("a", "on", "SPLIT", user)
    rec.flush()
    body = server.received[0][1]
    assert sorted((e["contextId"], e["count"]) for e in body["evaluations"]) == [("u1", 2),
                                                                               ("u2", 1)]
    assert body["summary"]["flags"] == {"a": {"on": 1}}
    rec.close()


def test_close__flushes_what_is_left():
    server = FakeServer()
    rec = recorder(server)
    rec.record("a", "on", "STATIC", "u1")
    rec.close()
    assert len(server.received) == 1


def test_what_the_server_would_refuse__skipped_not_sent():
    server = FakeServer()
    rec = recorder(server)
    rec.record("has space", "on", "STATIC", "u1")
    rec.track("bad name!", "u1")
    rec.record("fine", "on", "not a reason", "u1")
    rec.close()
    body = server.received[0][1]
    assert [(e["flagKey"], e["reason"]) for e in body["evaluations"]] == [("fine", "UNKNOWN")]
    assert "events" not in body and rec.skipped == 2
