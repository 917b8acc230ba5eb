"""A real browser's EventSource: headless Chromium on the live flags page."""

import asyncio

import httpx
import pytest

from tests.browser import Browser, chromium_available
from tests.live import LiveStack

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not chromium_available(), reason="Debian's chromium is not installed (.ci/run installs it)")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("browservar")).running() as live:
        yield live


@pytest.fixture
def browser(tmp_path):
    chromium = Browser(tmp_path / "chromium")
    yield chromium
    chromium.close()


def cell(flag, column):
    return f"document.querySelector('#flag-{flag}')?.cells[{column}]?.textContent"


def test_browser_eventsource__page_shows_live_flag_changes(stack, browser):
    client_key = stack.credentials["keys"]["development"]["client"]

    def patch_button_color():
        with httpx.Client(base_url=stack.base_url) as api:
            token = api.post("/api/auth/token", json={
                "username": "admin", "password": stack.credentials["password"]}).json()["access"]
            api.patch("/api/v1/projects/demo/environments/development/flags/button-color/",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"defaultRule": {"variant": "blue"}}).raise_for_status()

    async def scenario(page):
        await page.goto(f"{stack.base_url}/live/flags/?sdkKey={client_key}")
        await page.wait_for("document.getElementById('status').textContent === 'connected'")
        await page.wait_for(f"{cell('new-checkout', 1)} === 'on'")
        assert "demo / development" in await page.eval(
            "document.getElementById('environment').textContent")
        # a separate manage.py process turns new-checkout off
        await asyncio.to_thread(stack.manage, "set_flag", "demo", "development",
                                "new-checkout", "--off")
        await page.wait_for(f"{cell('new-checkout', 1)} === 'off'")
        # the API moves button-color's default to blue
        await asyncio.to_thread(patch_button_color)
        await page.wait_for(f"{cell('button-color', 2)} === 'blue'")
        log = await page.eval("document.getElementById('log').textContent")
        assert "flag_disabled new-checkout" in log and "flag_updated button-color" in log

    browser.run(scenario)


def test_browser_eventsource__revoked_client_key_shows_closed(stack, browser):
    with httpx.Client(base_url=stack.base_url) as api:
        token = api.post("/api/auth/token", json={
            "username": "admin", "password": stack.credentials["password"]}).json()["access"]
        api.headers["Authorization"] = f"Bearer {token}"
        created = api.post("/api/v1/projects/demo/environments/development/keys/",
                           json={"kind": "client"}).json()

        async def scenario(page):
            await page.goto(f"{stack.base_url}/live/flags/?sdkKey={created['key']}")
            await page.wait_for("document.getElementById('status').textContent === 'connected'")
            await asyncio.to_thread(
                api.post, f"/api/v1/projects/demo/environments/development/keys/"
                          f"{created['id']}/revoke/")
            await page.wait_for(
                "document.getElementById('status').textContent.startsWith('closed')", 10)

        browser.run(scenario)


def test_browser_eventsource__refused_key__page_says_so(stack, browser):
    # issue 15, defect 5: the page showed "reconnecting…" forever
    async def scenario(page):
        await page.goto(f"{stack.base_url}/live/flags/?sdkKey=cli-not-a-key")
        await page.wait_for("document.getElementById('status').textContent"
                            ".startsWith('key refused')")
        text = await page.eval("document.getElementById('status').textContent")
        assert "unknown, revoked or expired" in text

    browser.run(scenario)
