"""Cross-origin access (issue 14, security), against a real server and a real browser: a web
application on another origin reads flags, evaluates and follows the SDK stream with a client
key; it cannot read the management API, whose answers carry no CORS header."""

from __future__ import annotations

import http.server
import threading

import httpx
import pytest

from tests.browser import Browser, chromium_available
from tests.live import LiveStack, free_port

pytestmark = pytest.mark.live

ORIGIN = "http://app.example.test"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("corsvar")).running() as live:
        live.client_key = live.credentials["keys"]["development"]["client"]
        yield live


def test_preflight__sdk_path__every_origin_may_send_the_key_header(stack):
    answer = httpx.options(f"{stack.base_url}/api/sdk/evaluate", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "X-API-Key" in answer.headers["access-control-allow-headers"]
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers


def test_sdk_answers_and_streams__carry_the_header(stack):
    key = {"X-API-Key": stack.client_key, "Origin": ORIGIN}
    flags = httpx.get(f"{stack.base_url}/api/sdk/flags", headers=key)
    assert flags.status_code == 200 and flags.headers["access-control-allow-origin"] == "*"
    assert "ETag" in flags.headers["access-control-expose-headers"]
    ofrep = httpx.post(f"{stack.base_url}/ofrep/v1/evaluate/flags", headers=key,
                       json={"context": {"targetingKey": "u1"}})
    assert ofrep.headers["access-control-allow-origin"] == "*"
    with httpx.stream("GET", f"{stack.base_url}/api/sdk/stream", headers=key) as stream:
        assert stream.status_code == 200
        assert stream.headers["access-control-allow-origin"] == "*"
    refused = httpx.get(f"{stack.base_url}/api/sdk/flags", headers={"Origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "*"


def test_management_api_and_sessions__no_cors_header(stack):
    for method, path in [("GET", "/api/v1/projects/"), ("GET", "/api/sessions"),
                         ("OPTIONS", "/api/v1/projects/"), ("POST", "/api/auth/token"),
                         ("GET", "/api/realtime/stream")]:
        answer = httpx.request(method, f"{stack.base_url}{path}", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET"}, timeout=5)
        assert "access-control-allow-origin" not in answer.headers, (method, path)


@pytest.fixture
def other_origin():
    """A page's own server on another port: another origin, as the browser sees it."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>app</title><p>an application elsewhere</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/"  # localhost ≠ 127.0.0.1: cross-origin
    server.shutdown()


@pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")
def test_browser_on_another_origin__sdk_yes_management_no(stack, other_origin, tmp_path):
    browser = Browser(tmp_path / "chromium")
    base, key = stack.base_url, stack.client_key

    async def scenario(page):
        await page.load(other_origin)
        await page.eval(f"""
            window.results = {{}};
            fetch("{base}/api/sdk/evaluate", {{method: "POST",
                headers: {{"X-API-Key": "{key}", "Content-Type": "application/json"}},
                body: JSON.stringify({{flagKey: "button-color",
                                       context: {{targetingKey: "u1", country: "CA"}}}})}})
              .then(r => r.json()).then(b => window.results.evaluate = b.value)
              .catch(e => window.results.evaluate = "refused: " + e);
            const source = new EventSource("{base}/api/sdk/stream?sdkKey={key}");
            source.addEventListener("put", e => {{
                window.results.put = Object.keys(JSON.parse(e.data).flags || {{}}).length;
                source.close(); }});
            fetch("{base}/api/v1/projects/", {{headers: {{"Authorization": "Bearer x"}}}})
              .then(r => window.results.management = "read " + r.status)
              .catch(e => window.results.management = "refused");
        """)
        await page.wait_for("window.results.evaluate !== undefined && "
                            "window.results.put !== undefined && "
                            "window.results.management !== undefined")
        return await page.eval("window.results")

    try:
        results = {}

        async def run(page):
            results.update(await scenario(page))
        browser.run(run)
    finally:
        browser.close()
    assert results["evaluate"] == "green"  # North America's rule
    assert results["put"] >= 2
    assert results["management"] == "refused"  # the browser would not let the page read it
