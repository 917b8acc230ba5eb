"""The SDK against a real Flagstream server on a real port."""

import threading
import time

import httpx
import pytest
from flagstream import FlagstreamClient

from tests.live import LiveStack

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("sdkvar"),
                     extra_env={"STREAM_AUTH_RECHECK_SECONDS": "1",
                                "SDK_RATE_LIMIT_PER_MINUTE": "0"})
    with live.running():
        yield live


@pytest.fixture
def client(stack):
    clients = []

    def make(key=None, **kwargs):
        c = FlagstreamClient(key or stack.credentials["keys"]["development"]["server"],
                             stack.base_url, **kwargs)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def set_flag(stack, *args):
    stack.manage("set_flag", "demo", "development", *args)


def test_client__initial_fetch_and_typed_getters(client):
    c = client()
    assert c.wait_until_ready(10)
    assert c.get_boolean("new-checkout", {"targetingKey": "u1"}) is True
    assert c.get_string("button-color", {"country": "CA"}, default="x") == "green"
    assert c.get_string("button-color", {"country": "FR"}, default="x") == "red"
    assert c.evaluate("button-color", {"country": "US"}).reason == "TARGETING_MATCH"


def test_client__getters_never_raise_and_fall_back_to_default(client):
    c = client()
    assert c.wait_until_ready(10)
    assert c.get_boolean("no-such-flag", {}, default=True) is True
    assert c.get_boolean("button-color", {}, default=False) is False  # wrong type
    assert c.get_number("button-color", "not a dict", default=7) == 7
    assert c.get_json("new-checkout", None, default={"a": 1}) == {"a": 1}


def test_client__change_from_another_process_reaches_listeners(stack, client):
    c = client()
    assert c.wait_until_ready(10)
    seen = []
    c.on_change(lambda event_type, key, data: seen.append((event_type, key)))
    set_flag(stack, "button-color", "--default-variant", "blue")
    assert wait_for(lambda: ("flag_updated", "button-color") in seen)
    assert c.get_string("button-color", {"country": "FR"}) == "blue"
    set_flag(stack, "button-color", "--default-variant", "red")
    assert wait_for(lambda: c.get_string("button-color", {"country": "FR"}) == "red")


def test_client__server_restart__resumes_with_last_event_id(stack, client):
    c = client(initial_backoff=0.2, max_backoff=1)
    assert c.wait_until_ready(10)
    assert wait_for(lambda: c.stream_connected)
    applied = []
    c.on_change(lambda event_type, key, data: applied.append(event_type))
    stack.stop_server()
    assert wait_for(lambda: not c.stream_connected)
    set_flag(stack, "new-checkout", "--off")  # while the server is down
    stack.start_server()
    assert wait_for(lambda: c.get_boolean("new-checkout", {}, default=True) is False, 15)
    assert "flag_disabled" in applied  # replayed from Last-Event-ID, not a full re-put
    assert "put" not in applied
    set_flag(stack, "new-checkout", "--on")
    assert wait_for(lambda: c.get_boolean("new-checkout", {}) is True)


class NoStreamClient(FlagstreamClient):
    """A client whose stream always fails, to exercise the polling fallback."""

    def _stream(self):
        raise ConnectionError("stream unavailable")


def test_client__stream_failing__falls_back_to_etag_polling(stack):
    c = NoStreamClient(stack.credentials["keys"]["development"]["client"], stack.base_url,
                       poll_interval=0.5, initial_backoff=0.1, max_backoff=0.5)
    try:
        assert c.wait_until_ready(10)
        etag = c._etag
        assert etag
        set_flag(stack, "button-color", "--default-variant", "green")
        assert wait_for(lambda: c.get_string("button-color", {"country": "FR"}) == "green")
        assert c._etag != etag
    finally:
        set_flag(stack, "button-color", "--default-variant", "red")
        c.close()


def test_client__revoked_key__stops_and_keeps_last_configuration(stack, client):
    base = stack.base_url
    with httpx.Client(base_url=base) as http:
        token = http.post("/api/auth/token", json={
            "username": "admin", "password": stack.credentials["password"]}).json()["access"]
        http.headers["Authorization"] = f"Bearer {token}"
        created = http.post("/api/v1/projects/demo/environments/development/keys/",
                            json={"kind": "server"}).json()
        c = client(created["key"])
        assert c.wait_until_ready(10)
        assert wait_for(lambda: c.stream_connected)
        http.post(f"/api/v1/projects/demo/environments/development/keys/{created['id']}/revoke/")
    assert wait_for(lambda: c.error is not None, 10)
    assert "revoked" in c.error or "refused" in c.error
    assert c.get_boolean("new-checkout", {}) is True  # still answers from what it had


def test_client__wrong_key__not_ready_and_error(client):
    c = client("srv-wrong")
    assert not c.wait_until_ready(2)
    assert wait_for(lambda: c.error is not None)
    assert c.get_boolean("new-checkout", {}, default=True) is True


def test_client__thread_safe_under_concurrent_changes(stack, client):
    c = client()
    assert c.wait_until_ready(10)
    errors = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                value = c.get_string("button-color", {"country": "FR", "targetingKey": "t"})
                assert value in ("red", "green", "blue")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for variant in ("blue", "green", "red"):
        set_flag(stack, "button-color", "--default-variant", variant)
    assert wait_for(lambda: c.get_string("button-color", {"country": "FR"}) == "red")
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


def test_client__close_stops_quickly(client):
    c = client()
    assert c.wait_until_ready(10)
    started = time.monotonic()
    c.close()
    assert time.monotonic() - started < 3
    assert not c._thread.is_alive()
