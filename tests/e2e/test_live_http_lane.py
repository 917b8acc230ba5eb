"""The HTTP lane (streaming/http_lane.py) against a real `manage.py serve`, over raw sockets:
it answers its plain POSTs as daphne answers them, and hands any other request — and the
rest of that connection — to daphne, which answers it as it always has."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.live import LiveStack
from tests.sessions.recorded import conversation_events

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    extra = {"INGEST_RATE_LIMIT_PER_MINUTE": "0", "CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE": "3"}
    with LiveStack(tmp_path_factory.mktemp("lanevar"), extra_env=extra,
                   server_args=("--processes", "1", "--proxy-headers")).running() as live:
        live.api_key = live.credentials["apiKey"]
        yield live


class Raw:
    """One HTTP/1.1 connection, written and read by hand."""

    def __init__(self, stack):
        host, port = stack.base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.pending += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict, bytes]:
        """The next answer: status, headers (lower-cased names), body."""
        while b"\r\n\r\n" not in self.pending:
            assert self._fill(), "the server closed the connection"
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.pending:
                    assert self._fill()
                size_line, self.pending = self.pending.split(b"\r\n", 1)
                size = int(size_line, 16)
                while len(self.pending) < size + 2:
                    assert self._fill()
                body, self.pending = body + self.pending[:size], self.pending[size + 2:]
                if size == 0:
                    return status, headers, body
        length = int(headers.get("content-length", 0))
        while len(self.pending) < length:
            assert self._fill()
        body, self.pending = self.pending[:length], self.pending[length:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        self.sock.settimeout(5)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def post(path: str, body: bytes, key: str | None, *extra: str, chunked: bool = False) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if key:
        head.append(f"Authorization: Bearer {key}")
    head += extra
    if chunked:
        head.append("Transfer-Encoding: chunked")
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@pytest.fixture
def raw(stack):
    connection = Raw(stack)
    yield connection
    connection.close()


def ask(stack, request: bytes) -> tuple[int, dict, bytes]:
    with closing(Raw(stack)) as connection:
        connection.send(request)
        return connection.answer()


def events(name: str, messages: int = 2) -> list[bytes]:
    return [json.dumps(event).encode() for event in conversation_events(name, messages=messages)]


def test_lane_and_daphne_answer_alike__good_duplicate_and_refused(stack):
    """Each request twice: as the lane takes it (Content-Length) and as only daphne takes it
    (a chunked body): the same status, the same JSON, the same kind of headers."""
    started, message = events("alike")[:2]
    cases = [
        (started, stack.api_key),
        (message, stack.api_key),
        (b'{"type": "x", "timestamp": "2026-11-23T10:00:00Z", "data": {}}', stack.api_key),
        (b"{nope", stack.api_key),
    ]
    for body, key in cases:
        lane = ask(stack, post("/api/ingest", body, key))
        daphne = ask(stack, post("/api/ingest", body, key, chunked=True))
        lane_body, daphne_body = json.loads(lane[2]), json.loads(daphne[2])
        daphne_body.pop("duplicate", None)  # the second copy of a good event
        assert (lane[0], lane_body) == (daphne[0], daphne_body), (body, lane, daphne)
        assert lane[1]["content-type"] == daphne[1]["content-type"] == "application/json"
        assert int(lane[1]["content-length"]) == len(lane[2])
    first, again = (ask(stack, post("/api/ingest", message, stack.api_key)) for _ in range(2))
    assert json.loads(first[2])["duplicate"] is True
    assert json.loads(again[2]) == json.loads(first[2])


def test_one_connection__lane_then_daphne_then_daphne_again__every_answer_in_order(stack, raw):
    started, first, second, third = events("mixed", messages=3)[:4]
    raw.send(post("/api/ingest", started, stack.api_key))
    assert raw.answer()[0] == 201
    raw.send(post("/api/ingest", first, stack.api_key))
    assert raw.answer()[0] == 201
    raw.send(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # daphne's from here on
    status, _, body = raw.answer()
    assert status == 200 and json.loads(body)["status"] == "ok"
    raw.send(post("/api/ingest", second, stack.api_key))
    status, _, body = raw.answer()
    assert status == 201 and json.loads(body)["message_id"]
    raw.send(post("/api/ingest", third, stack.api_key) + post("/api/ingest", third,
                                                               stack.api_key))
    assert [raw.answer()[0], raw.answer()[0]] == [201, 201]


def test_pipelined_and_split__each_answered_in_order(stack, raw):
    """Two requests in one write, then a request in pieces (head split, body in three)."""
    started, first, second = events("pieces", messages=2)[:3]
    raw.send(post("/api/ingest", started, stack.api_key)
             + post("/api/ingest", first, stack.api_key))
    answers = [raw.answer(), raw.answer()]
    assert [a[0] for a in answers] == [201, 201]
    assert "conversation_id" in json.loads(answers[0][2])
    assert "message_id" in json.loads(answers[1][2])
    request = post("/api/ingest", second, stack.api_key)
    split = request.index(b"\r\n\r\n") + 4
    for piece in (request[:7], request[7:split], request[split:split + 10],
                  request[split + 10:split + 20], request[split + 20:]):
        raw.send(piece)
        time.sleep(0.05)
    status, _, body = raw.answer()
    assert status == 201 and json.loads(body)["message_id"] == json.loads(second)["data"][
        "message_id"]


def test_connection_close__answered_then_closed(stack, raw):
    raw.send(post("/api/ingest", events("closing")[0], stack.api_key, "Connection: close"))
    status, headers, _ = raw.answer()
    assert status == 201 and headers["connection"].lower() == "close"
    assert raw.closed_by_server()


def test_expect_continue_and_oversized__daphnes_answers(stack, raw):
    raw.send(post("/api/ingest", events("expect")[0], stack.api_key, "Expect: 100-continue"))
    status, _, _ = raw.answer()
    if status == 100:
        status, _, _ = raw.answer()
    assert status == 201
    big = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    status, _, body = ask(stack, post("/api/ingest", big, stack.api_key))
    assert status == 413 and json.loads(body)["error"] == "payload_too_large"


def test_client_gone_mid_body__nothing_stored__server_serves_on(stack):
    event = events("gone")[0]
    raw = Raw(stack)
    request = post("/api/ingest", event, stack.api_key)
    raw.send(request[:-20])
    raw.close()
    time.sleep(0.3)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    listed = httpx.get(f"{stack.base_url}/api/sessions", params={"search": "gone"},
                       headers=headers).json()["results"]
    assert listed == []
    assert ask(stack, request)[0] == 201


def test_proxy_headers__refused_keys_counted_per_forwarded_address(stack):
    """Behind a proxy (`serve --proxy-headers`) the lane's requests carry the forwarded
    address, as daphne's do: three wrong keys from one address turn it away, not another."""
    body = events("forwarded")[0]
    for _ in range(3):
        status, _, _ = ask(stack, post("/api/ingest", body, "ap_live_wrong",
                                       "X-Forwarded-For: 10.9.9.9"))
        assert status == 401
    read = ("GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {stack.api_key}\r\nX-Forwarded-For: {{}}\r\n\r\n")
    assert ask(stack, read.format("10.9.9.9").encode())[0] == 429  # daphne's, counted by the lane
    assert ask(stack, read.format("10.8.8.8").encode())[0] == 200
    assert ask(stack, post("/api/ingest", body, stack.api_key,
                           "X-Forwarded-For: 10.8.8.8"))[0] == 201


def test_access_log__lane_requests_logged_like_daphnes(stack):
    ask(stack, post("/api/ingest", events("logged")[0], stack.api_key))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in stack.logs().splitlines()
                 if '"POST /api/ingest"' in line and " 201 " in line]
        if lines:
            break
        time.sleep(0.1)
    assert lines, stack.logs()[-2000:]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_one_process__listens_with_a_deep_backlog(stack):
    """Twisted's default backlog of 50 made the 51st of a burst of connections (8 CLIs × 32
    goroutines) wait for the kernel's one-second SYN retry; `serve` asks for the
    supervisor's."""
    from streaming.workers import BACKLOG

    port = stack.base_url.rsplit(":", 1)[1]
    shown = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                           text=True, check=True).stdout.split()
    assert int(shown[2]) == min(BACKLOG, int(Path("/proc/sys/net/core/somaxconn").read_text()))
