"""Headless Chromium (Debian's package) driven over the DevTools protocol, for tests."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import websockets

from tests.live import free_port

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_available() -> bool:
    return shutil.which("chromium") is not None


class Browser:
    """One headless Chromium process with one page."""

    def __init__(self, user_data_dir):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}",
             f"--remote-debugging-port={self.port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                pages = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=1).json()
                self.ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration, ValueError):
                if time.monotonic() > deadline:
                    raise AssertionError("chromium did not start") from None
                time.sleep(0.2)
        self._ids = itertools.count(1)

    async def _call(self, ws, method, **params):
        call_id = next(self._ids)
        await ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(message["error"])
                return message.get("result", {})

    def run(self, scenario):
        """Run ``async scenario(page)``; ``page.goto(url)``, ``page.eval(js)``."""
        browser = self

        class Page:
            def __init__(self, ws):
                self.ws = ws

            async def goto(self, url):
                await browser._call(self.ws, "Page.navigate", url=url)

            async def load(self, url, ready="true", timeout=15):
                """Navigate and wait until the new document has loaded and ``ready`` holds."""
                await self.eval("window.__left = true")
                await browser._call(self.ws, "Page.navigate", url=url)
                await self.wait_loaded(ready, timeout)

            async def wait_loaded(self, ready="true", timeout=15):
                """After a navigation or a form submit: a new document, loaded, ``ready``."""
                await self.wait_for("!window.__left && document.readyState === 'complete' && "
                                    f"!!({ready})", timeout)

            async def submit(self, selector, ready="true"):
                """Click ``selector`` (a submit button) and wait for the next page."""
                await self.eval("window.__left = true")
                await self.eval(f"document.querySelector({json.dumps(selector)}).click()")
                await self.wait_loaded(ready)

            async def admin_login(self, base_url, password, username="admin"):
                """Log in to the admin through its login form."""
                await self.load(f"{base_url}/admin/login/?next=/admin/")
                await self.eval(f"""document.getElementById('id_username').value =
                    {json.dumps(username)};
                    document.getElementById('id_password').value = {json.dumps(password)};""")
                await self.submit("#login-form [type=submit]",
                                  "document.querySelector('#site-name')")

            async def viewport(self, width, height=800):
                await browser._call(self.ws, "Emulation.setDeviceMetricsOverride", width=width,
                                    height=height, deviceScaleFactor=1, mobile=False)

            async def screenshot(self, path, width=1280):
                """The whole page, ``width`` CSS pixels wide, as a PNG at ``path``."""
                await browser._call(self.ws, "Emulation.setDeviceMetricsOverride", width=width,
                                    height=800, deviceScaleFactor=1, mobile=False)
                height = await self.eval("document.documentElement.scrollHeight")
                await browser._call(self.ws, "Emulation.setDeviceMetricsOverride", width=width,
                                    height=max(int(height), 400), deviceScaleFactor=1,
                                    mobile=False)
                shot = await browser._call(self.ws, "Page.captureScreenshot", format="png")
                Path(path).write_bytes(base64.b64decode(shot["data"]))
                await browser._call(self.ws, "Emulation.clearDeviceMetricsOverride")

            async def eval(self, expression):
                result = await browser._call(self.ws, "Runtime.evaluate",
                                             expression=expression, returnByValue=True)
                return result.get("result", {}).get("value")

            async def wait_for(self, expression, timeout=15):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if await self.eval(expression):
                        return True
                    await asyncio.sleep(0.1)
                raise AssertionError(f"not true within {timeout} s: {expression}")

        async def main():
            async with websockets.connect(self.ws_url, max_size=None) as ws:
                await scenario(Page(ws))

        asyncio.run(main())

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
