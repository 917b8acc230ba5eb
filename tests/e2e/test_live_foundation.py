"""The foundation used the way its users use it: a real server on a real port, httpx, a
separate `manage.py` process, and a real Celery worker with beat on the embedded broker."""

import json
import time

import httpx
import pytest

from tests.live import LiveStack

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("var")).running() as live:
        yield live


STATE = "/api/v1/projects/demo/environments/production/flags/button-color/"


def test_live__demo_flags_listed_over_http(api):
    response = api.get("/api/v1/projects/demo/flags/")
    assert response.status_code == 200
    flags = {f["key"]: f for f in response.json()["results"]}
    assert set(flags) == {"new-checkout", "button-color"}
    assert flags["new-checkout"]["environments"]["development"]["enabled"] is True
    assert flags["new-checkout"]["environments"]["production"]["enabled"] is False


def test_live__set_flag_from_another_process__visible_through_the_api(stack, api):
    version = api.get(STATE).json()["version"]
    out = stack.manage("set_flag", "demo", "production", "button-color", "--on")
    assert "on" in out
    state = api.get(STATE).json()
    assert state["enabled"] is True and state["version"] == version + 1
    audit = api.get("/api/v1/projects/demo/flags/button-color/audit/").json()["results"][0]
    assert (audit["action"], audit["source"], audit["actor"]) == (
        "flag_enabled", "command", "manage.py set_flag")


def test_live__if_match_race__second_writer_gets_412(api):
    etag = api.get(STATE).headers["ETag"]
    first = api.patch(STATE, json={"offVariant": "blue"}, headers={"If-Match": etag})
    second = api.patch(STATE, json={"offVariant": "green"}, headers={"If-Match": etag})
    assert first.status_code == 200 and second.status_code == 412
    assert api.get(STATE).json()["offVariant"] == "blue"


def test_live__no_token__401_json(stack):
    response = httpx.get(f"{stack.base_url}/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_live__refused_credentials__the_address_gets_429_for_every_credential__others_do_not(
        stack):
    """CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE (100): wrong keys and tokens of every kind
    from 127.0.0.2; then its right ones are refused too, and 127.0.0.1 is untouched."""
    if time.time() % 60 > 45:  # the count is per minute: start with a whole one ahead
        time.sleep(61 - time.time() % 60)
    good_sdk = stack.credentials["keys"]["development"]["server"]
    bearer = stack.bearer("admin", stack.credentials["password"])
    wrong = [("/api/sdk/flags", {"Authorization": "Bearer srv-wrong"}),
             ("/api/sessions", {"Authorization": "Bearer ap_live_wrong"}),
             ("/api/v1/projects/", {"Authorization": "Bearer not.a.jwt"}),
             ("/api/sdk/stream?sdkKey=cli-wrong", {})]
    with httpx.Client(base_url=stack.base_url, timeout=10,
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as guessing:
        for attempt in range(100):
            path, headers = wrong[attempt % len(wrong)]
            assert guessing.get(path, headers=headers).status_code == 401, path
        refused = [
            guessing.get("/api/sdk/flags", headers={"Authorization": f"Bearer {good_sdk}"}),
            guessing.get("/api/sessions",
                         headers={"Authorization": f"Bearer {stack.credentials['apiKey']}"}),
            guessing.get("/api/v1/projects/", headers=bearer),
            guessing.get(f"/api/sdk/stream?sdkKey={good_sdk}")]
        for response in refused:
            assert response.status_code == 429, response.request.url.path
            assert response.json()["error"] == "rate_limited"
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert good_sdk not in response.text
        assert guessing.get("/api/health").status_code == 200  # no credential: not refused
    assert httpx.get(f"{stack.base_url}/api/sdk/flags",
                     headers={"Authorization": f"Bearer {good_sdk}"}).status_code == 200
    assert httpx.get(f"{stack.base_url}/api/v1/projects/", headers=bearer).status_code == 200


def test_live__admin_login_and_static_assets_served(stack):
    with httpx.Client(base_url=stack.base_url) as browser:
        login_page = browser.get("/admin/login/")
        assert login_page.status_code == 200 and "csrfmiddlewaretoken" in login_page.text
        assert browser.get("/static/admin/css/base.css").status_code == 200
        password = json.loads((stack.var_dir / "demo-credentials.json").read_text())["password"]
        token = login_page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        logged_in = browser.post("/admin/login/?next=/admin/flags/flag/",
                                 data={"username": "admin", "password": password,
                                       "csrfmiddlewaretoken": token, "next": "/admin/flags/flag/"},
                                 follow_redirects=True)
        assert logged_in.status_code == 200
        assert "button-color" in logged_in.text and "new-checkout" in logged_in.text


def test_live__api_docs_and_schema(stack):
    assert httpx.get(f"{stack.base_url}/api/docs/").status_code == 200
    schema = httpx.get(f"{stack.base_url}/api/schema/?format=json")
    assert "/api/v1/projects/" in schema.json()["paths"]


def test_live__celery_worker_with_beat_runs_tasks_on_the_embedded_broker(stack):
    log = stack.start_worker()
    stack.wait_for_log(log, "beat: Starting")
    stack.wait_for_log(log, "ready.")
    stack.manage("shell", "-c",
                 "from streaming.tasks import trim_stream_events; trim_stream_events.delay()")
    stack.wait_for_log(log, "streaming.tasks.trim_stream_events")
    stack.wait_for_log(log, "succeeded")


def test_live__embedded_broker__other_processes_flooding_it_do_not_kill_the_worker(stack):
    log = next(log for _, log in stack.processes if log.name == "celery.log")
    stack.wait_for_log(log, "ready.")
    before = log.read_text().count("streaming.tasks.trim_stream_events[")
    stack.manage("shell", "-c", "from streaming.tasks import trim_stream_events\n"
                                "for _ in range(300): trim_stream_events.delay()")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text()
        if text.count("succeeded") >= 300 and "Unrecoverable error" not in text:
            done = text.count("streaming.tasks.trim_stream_events[") - before
            if done >= 600:  # "received" and "succeeded" lines, 300 each
                break
        time.sleep(0.5)
    text = log.read_text()
    assert "Unrecoverable error" not in text, text[-3000:]
    assert text.count("streaming.tasks.trim_stream_events[") - before >= 600
    assert all(p.poll() is None for p, l in stack.processes if l.name == "celery.log")
