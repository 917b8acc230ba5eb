"""The live company dashboard in headless Chromium (issue 12, item 7), fed from NATS: a member
(not staff) logs in through the login form, the page's EventSource shows their company's
metrics, chart and journeys as they are published to NATS, never another company's, and a
reload draws the same from what is stored."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.browser import Browser, chromium_available
from tests.e2e.test_live_company_nats import nats_publish, start_companies_with_bridge
from tests.live import LiveStack, nats_available

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (chromium_available() and nats_available()),
    reason="chromium and nats-server are not installed (.ci/run installs them)")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    live = LiveStack(tmp_path_factory.mktemp("dashvar"))
    try:
        start_companies_with_bridge(live)
        yield live
    finally:
        live.stop()


@pytest.fixture
def browser(tmp_path):
    chromium = Browser(tmp_path / "chromium")
    yield chromium
    chromium.close()


def tile_value(name: str) -> str:
    return (f"document.querySelector('.tile[data-metric={json.dumps(name)}] .value')"
            "?.textContent")


def test_dashboard__member_sees_own_company_live_from_nats_and_again_after_reload(stack,
                                                                                 browser):
    async def scenario(page):
        await page.load(f"{stack.base_url}/live/company/")  # → the login form, then back
        await page.wait_for("!!document.getElementById('id_username')")
        await page.eval("""document.getElementById('id_username').value = 'globex-viewer';
                           document.getElementById('id_password').value = 'pw-globex-1';""")
        await page.submit("#login-form [type=submit]", "!!window.dashboard")
        assert await page.eval("location.pathname") == "/live/company/"
        await page.wait_for("dashboard.status() === 'live'")
        assert "Globex" in await page.eval("document.querySelector('h1').textContent")
        await asyncio.to_thread(nats_publish, stack.nats_url, [
            ("metrics.calculated", {"companyId": "globex", "metricName": "nps", "value": 10}),
            ("metrics.calculated", {"companyId": "acme", "metricName": "acme-only",
                                    "value": 99}),
            ("journey.flag_updated", {"companyId": "globex", "userId": "u7",
                                      "flag": "struggling"}),
            ("sroi.updated", {"companyId": "globex", "sroi": 3.25}),
            ("metrics.updated", {"companyId": "globex", "metricName": "nps", "value": 12}),
            ("q2q.computed", {"companyId": "globex", "chart": "q2q"}),
        ])
        await page.wait_for(f"{tile_value('nps')} === '12'")
        await page.wait_for("dashboard.received === 5")
        assert await page.eval(tile_value("SROI")) == "3.25"
        assert await page.eval(tile_value("acme-only")) is None  # never another company's
        assert await page.eval("dashboard.series.nps[1]") == [10, 12]  # the chart's points
        assert await page.eval("document.querySelectorAll('#chart canvas').length") == 1
        assert "u7 → struggling" in await page.eval(
            "document.getElementById('journeys').textContent")
        assert "analysis updated: q2q" in await page.eval(
            "document.getElementById('analyses').textContent")
        # Drawn again from what is stored: same tiles and chart, nothing from the stream yet.
        await page.load(f"{stack.base_url}/live/company/", "!!window.dashboard")
        await page.wait_for("dashboard.status() === 'live'")
        assert await page.eval(tile_value("nps")) == "12"
        assert await page.eval("dashboard.series.nps[1]") == [10, 12]
        assert await page.eval("dashboard.received") == 0
        assert await page.eval(tile_value("acme-only")) is None

    browser.run(scenario)
