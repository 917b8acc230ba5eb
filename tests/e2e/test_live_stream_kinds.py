"""A stream kind added by another app (the tests' throw-away notes app, installed through its
own settings module) streams, replays and is revoked on a real server, directly and through
Pushpin, with events published by separate processes: nothing in streaming/ knows of it."""

import pytest

from tests.live import LiveStack, stream_modes
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

MODES = stream_modes()


@pytest.fixture(scope="module", params=MODES)
def stack(request, tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("var"), pushpin=request.param == "pushpin",
                     extra_env={"DJANGO_SETTINGS_MODULE": "tests.streaming.notes.live_settings",
                                "STREAM_AUTH_RECHECK_SECONDS": "1"})
    with live.running():
        yield live


@pytest.fixture
def notes(stack):
    readers = []

    def open_stream(board, key, last_event_id=None):
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        reader = SSEReader(f"{stack.base_url}/test/notes/stream?board={board}&key={key}",
                           headers)
        readers.append(reader)
        return reader

    yield open_stream
    for reader in readers:
        reader.close()


def publish(stack, board, *texts):
    """Publish from a separate manage.py process, as a command or a worker would."""
    calls = "; ".join(f"publish('note-{board}', 'note', {{'text': {text!r}}})" for text in texts)
    stack.manage("shell", "-c", f"from streaming.broadcast import publish; {calls}")


def test_notes_kind__hello_then_notes_from_another_process(stack, notes):
    stream = notes("lobby", 1)
    hello = stream.next()
    assert (hello.event, hello.json) == ("hello", {"board": "lobby", "at": 0})
    publish(stack, "lobby", "first", "second")
    received = [stream.next_of("note"), stream.next_of("note")]
    assert [r.json["text"] for r in received] == ["first", "second"]
    assert [r.id for r in received] == ["note-lobby:1", "note-lobby:2"]


def test_notes_kind__last_event_id__replays_exactly_the_missed(stack, notes):
    publish(stack, "replay", "a", "b", "c")
    stream = notes("replay", 2, last_event_id="note-replay:1")
    assert [stream.next().json["text"], stream.next().json["text"]] == ["b", "c"]
    publish(stack, "replay", "d")
    assert stream.next().json["text"] == "d"


def test_notes_kind__key_revoked_by_another_process__stream_error_and_closed(stack, notes):
    stream = notes("revoke", 3)
    assert stream.next().event == "hello"
    stack.manage("shell", "-c", "from tests.streaming.notes.streams import note_key_revoke; "
                                "note_key_revoke(3)")
    error = stream.next_of("stream-error", timeout=10)
    assert error.json["condition"] == "unauthorized"
    assert stream.closed.wait(5)
    refused = notes("revoke", 3)
    refused.wait_open()
    assert refused.status == 401
