"""Take the admin screenshots in docs/screenshots/ (``make screenshots``).

Starts the stack on the demo data in a throw-away directory (the same harness as the live tests),
gives button-color a segment rule with a 30/70 split, and photographs, 1280 px wide, with
Debian's headless Chromium: the flag page, the targeting editor, a validation error in the
editor, the audit trail's diffs and the flag list.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, chromium_available
from tests.live import LiveStack

OUT = Path(__file__).resolve().parent
FLAG_URL = "/api/v1/projects/demo/environments/development/flags/button-color/"


def prepare(stack: LiveStack) -> None:
    api = stack.api_client()
    try:
        api.post("/api/v1/projects/demo/segments/", json={
            "key": "beta-testers", "name": "Beta testers",
            "constraints": [{"attribute": "email", "operator": "ends_with",
                             "values": ["@acme.example"]}]}).raise_for_status()
        state = api.get(FLAG_URL).json()
        api.patch(FLAG_URL, json={"rules": state["rules"] + [{
            "description": "Beta testers try blue",
            "constraints": [{"operator": "segment_match", "values": ["beta-testers"]},
                            {"attribute": "appVersion", "operator": "semver_gt",
                             "values": ["2.0.0"]}],
            "distribution": [{"variant": "green", "weight": 30},
                             {"variant": "blue", "weight": 70}]}]}).raise_for_status()
        api.patch("/api/v1/projects/demo/flags/button-color/",
                  json={"description": "Colour of the buy button on every checkout page."})
    finally:
        api.close()


async def open_first(page, changelist_url: str) -> None:
    """The change page of the first row ``changelist_url`` lists."""
    await page.load(changelist_url, "document.querySelector('#result_list')")
    href = await page.eval("document.querySelector('#result_list tbody th a').href")
    await page.load(href, "document.querySelector('#content-main')")


async def shoot(page, stack: LiveStack) -> list[Path]:
    taken = []

    async def take(name):
        path = OUT / f"{name}.png"
        await page.screenshot(path)
        taken.append(path)

    await page.admin_login(stack.base_url, stack.credentials["password"])
    await page.load(f"{stack.base_url}/admin/flags/flag/", "document.querySelector('#result_list')")
    await take("flag-list")
    await open_first(page, f"{stack.base_url}/admin/flags/flag/?q=button-color")
    await take("flag-page")
    await open_first(page, f"{stack.base_url}/admin/flags/flagstate/"
                           "?q=button-color&environment__key=development")
    await page.wait_for("window.flagstreamTargeting && window.flagstreamTargeting.length === 3")
    await take("targeting-editor")
    # A split that does not add up: the editor says so live, the server names the rule.
    await page.eval("""(() => {
        const weight = document.querySelector('[data-path="rules.1.distribution.1.weight"]');
        weight.value = '60';
        weight.dispatchEvent(new Event('input', {bubbles: true}));
    })()""")
    await page.submit("input[name=_continue]", "document.querySelector('.errornote')")
    await take("targeting-editor-error")
    await page.load(f"{stack.base_url}/admin/flags/auditlog/?q=button-color",
                    "document.querySelector('#result_list')")
    await take("audit-diff")
    return taken


def main() -> int:
    if not chromium_available():
        print("Debian's chromium is needed: apt-get install chromium", file=sys.stderr)
        return 2
    taken: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, LiveStack(Path(tmp) / "var").running() as stack:
        prepare(stack)
        browser = Browser(Path(tmp) / "chromium")
        try:
            browser.run(lambda page: _collect(shoot(page, stack), taken))
        finally:
            browser.close()
    for path in taken:
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


async def _collect(coroutine, into: list) -> None:
    into.extend(await coroutine)


if __name__ == "__main__":
    sys.exit(main())
