"""Client behaviour that needs no server: backoff bounds and applying changes by version."""

from flagstream import FlagstreamClient


def offline_client():
    return FlagstreamClient("srv-x", "http://127.0.0.1:9", start=False, initial_backoff=0.5,
                            max_backoff=8)


def test_backoff__full_jitter_within_exponential_bound():
    c = offline_client()
    for attempt in range(10):
        bound = min(8, 0.5 * 2 ** attempt)
        samples = [c._backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound * 0.5  # actually spread, not constant


def flag(version, variant):
    return {"key": "f", "kind": "string", "version": version, "enabled": True,
            "variants": {"a": "a", "b": "b"}, "offVariant": "a",
            "defaultRule": {"variant": variant}, "rules": []}


def test_apply__newer_version_applied_stale_ignored():
    c = offline_client()
    c._apply_put({"flags": {"f": flag(2, "a")}, "segments": {}})
    c._apply_event("flag_updated", {"flagKey": "f", "version": 3, "flag": flag(3, "b")})
    assert c.get_string("f") == "b"
    c._apply_event("flag_updated", {"flagKey": "f", "version": 2, "flag": flag(2, "a")})
    assert c.get_string("f") == "b"  # stale: ignored
    c._apply_event("flag_deleted", {"flagKey": "f", "version": 4, "flag": None})
    assert c.get_string("f", default="gone") == "gone"


def test_listener__told_of_applied_changes_only():
    c = offline_client()
    seen = []
    c.on_change(lambda t, k, d: seen.append((t, k)))
    c._apply_put({"flags": {"f": flag(2, "a")}, "segments": {}})
    c._apply_event("flag_updated", {"flagKey": "f", "version": 2, "flag": flag(2, "b")})
    c._apply_event("flag_enabled", {"flagKey": "f", "version": 3, "flag": flag(3, "b")})
    assert seen == [("put", None), ("flag_enabled", "f")]


# --- a refused key and an unreachable server (issue 15, defect 5) ---------------------------

import http.server  # noqa: E402  (these tests need a server of their own)
import logging  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


class Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"error": "invalid_key", "detail": "unknown, revoked or expired environment key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_refused_key__wait_until_ready_returns_at_once_and_says_why(caplog):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="flagstream"):
            client = FlagstreamClient("srv-wrong", f"http://127.0.0.1:{server.server_port}")
            assert client.wait_until_ready(timeout=10) is False
            took = time.monotonic() - started
            client.close()
        assert took < 2
        assert "refused the SDK key (401)" in client.error
        messages = [r.getMessage() for r in caplog.records]
        assert not any("keeping the last configuration" in m for m in messages)
        assert any("evaluates to its default" in m for m in messages)
        assert client.get_boolean("anything", default=True) is True
    finally:
        server.shutdown()


def test_unreachable_server__retries_logged_once_not_per_attempt(caplog):
    with caplog.at_level(logging.DEBUG, logger="flagstream"):
        client = FlagstreamClient("srv-x", "http://127.0.0.1:9", initial_backoff=0.05,
                                  max_backoff=0.2)
        time.sleep(2)
        client.close()
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    warnings = [r for r in failures if r.levelno >= logging.WARNING]
    assert len(failures) >= 5  # it kept retrying
    assert len(warnings) == 1  # and said so once
