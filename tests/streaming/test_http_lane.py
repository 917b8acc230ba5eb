"""What the HTTP lane (streaming/http_lane.py) takes as its own, and what it leaves to daphne.
Its answers on a real server: tests/e2e/test_live_http_lane.py."""

import pytest

from streaming.http_lane import parse_head

LINES = {b"POST /api/ingest HTTP/1.1": "/api/ingest"}
PLAIN = [b"POST /api/ingest HTTP/1.1", b"Host: 127.0.0.1:8000",
         b"Content-Type: application/json", b"Authorization: Bearer ap_live_x",
         b"Content-Length: 12"]


def head(*lines: bytes) -> bytes:
    return b"\r\n".join(lines)


def test_plain_post__taken_with_its_headers_as_daphne_gives_them():
    request = parse_head(head(*PLAIN, b"X-Forwarded-For:  10.0.0.1 ", b"X_Secret: y"),
                         LINES)
    assert request.path == "/api/ingest" and request.length == 12 and not request.close
    assert request.headers == [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
        (b"authorization", b"Bearer ap_live_x"), (b"content-length", b"12"),
        (b"x-forwarded-for", b"10.0.0.1")]  # underscores never reach the application
    assert (b"X_Secret", b"y") in request.raw


def test_connection_close__taken_and_remembered():
    assert parse_head(head(*PLAIN, b"Connection: close"), LINES).close is True
    assert parse_head(head(*PLAIN, b"Connection: keep-alive"), LINES).close is False


@pytest.mark.parametrize("lines", [
    [b"POST /api/ingest?x=1 HTTP/1.1", *PLAIN[1:]],  # a query string
    [b"POST /api/ingest/ HTTP/1.1", *PLAIN[1:]],  # another path
    [b"GET /api/ingest HTTP/1.1", *PLAIN[1:]],  # another method
    [b"POST /api/ingest HTTP/1.0", *PLAIN[1:]],  # another version
    [b"POST  /api/ingest HTTP/1.1", *PLAIN[1:]],
    PLAIN[:-1],  # no Content-Length
    [*PLAIN, b"Content-Length: 12"],  # two
    [*PLAIN[:-1], b"Content-Length: +12"],
    [*PLAIN[:-1], b"Content-Length: 1_2"],
    [*PLAIN, b"Transfer-Encoding: chunked"],
    [*PLAIN, b"Expect: 100-continue"],
    [*PLAIN, b"Upgrade: websocket", b"Connection: Upgrade"],
    [*PLAIN, b"Connection: upgrade"],
    [*PLAIN, b"Daphne-Root-Path: /x"],
    [*PLAIN, b" folded"],  # an obsolete folded line
    [*PLAIN, b"Bad Name: x"],
    [*PLAIN, b"Name : x"],
    [*PLAIN, b"no colon"],
    [*PLAIN, b"X-Null: a\x00b"],
    [*PLAIN, b"X-Cr: a\rb"],
], ids=lambda lines: repr(lines[0] if lines[0] != PLAIN[0] else lines[-1])[:40])
def test_anything_else__left_to_daphne(lines):
    assert parse_head(head(*lines), LINES) is None
