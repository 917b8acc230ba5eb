"""Several Pushpin edges (GRIP_URL with several URLs): a stream request signed by any edge is
trusted, every edge gets every published item, and an edge that is down stops no other."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from streaming.broadcast import close_credential_streams, publish
from streaming.grip import edge_name, grip_publish, grip_signed
from streaming.kinds import Credential
from tests.live import free_port


class Edge:
    """A stand-in for one Pushpin's publish endpoint on a real port: it records what it is
    sent (the GRIP publish protocol: POST /publish/ with a JSON body of items)."""

    def __init__(self, key: str):
        self.key, self.items = key, []
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                edge.items.extend(json.loads(body)["items"])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"Published\n")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}?iss=pushpin&key={key}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def edges(settings):
    running = [Edge("edge-one-key-of-thirty-two-bytes-x"), Edge("edge-two-key-of-thirty-two-bytes-x")]
    down = f"http://127.0.0.1:{free_port()}?iss=pushpin&key=nobody-listens-on-this-port-at-all"
    settings.GRIP_URLS = [running[0].url, down, running[1].url]
    yield running
    for edge in running:
        edge.close()


def signature(key: str) -> str:
    return jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, key)


def test_grip_signed__any_edge_key__trusted_and_a_stranger_not(edges):
    assert grip_signed({"grip-sig": signature(edges[0].key)})
    assert grip_signed({"grip-sig": signature(edges[1].key)})
    assert not grip_signed({"grip-sig": signature("not-a-key-of-any-edge-at-all-xxxx")})
    assert not grip_signed({})


def test_grip_publish__one_edge_down__the_others_still_get_it(edges, caplog):
    from gripcontrol import HttpStreamFormat

    assert grip_publish("events-x", HttpStreamFormat("data: 1\n\n"), item_id="1") == 2
    assert [item["channel"] for edge in edges for item in edge.items] == ["events-x"] * 2
    assert "could not publish on events-x to the Pushpin edge http://127.0.0.1:" in caplog.text
    assert "key=" not in caplog.text  # an edge's key is never logged


@pytest.mark.django_db(transaction=True)
def test_publish__every_edge_gets_each_event_with_its_id_and_previous_id(edges):
    publish("environment-77", "flag_updated", {"flagKey": "a"})
    publish("environment-77", "flag_updated", {"flagKey": "b"})
    for edge in edges:
        assert [(i["channel"], i["id"], i["prev-id"]) for i in edge.items] == [
            ("events-environment-77", "1", "0"), ("events-environment-77", "2", "1")]
        stream = edge.items[1]["http-stream"]
        assert "event: flag_updated" in stream["content"] and '"b"' in stream["content"]
        assert "id: %I" in stream["content"] and stream["content-filters"] == ["build-id"]


def test_close_credential_streams__error_then_close_on_every_edge(edges):
    close_credential_streams(Credential("sdkkey", 5))
    for edge in edges:
        formats = [item["http-stream"] for item in edge.items]
        assert [item["channel"] for item in edge.items] == ["sdkkey-5"] * 2
        assert "stream-error" in formats[0]["content"] and formats[1] == {"action": "close"}


def test_edge_name__drops_the_key():
    assert edge_name("http://127.0.0.1:5561?iss=pushpin&key=secret") == "http://127.0.0.1:5561"

