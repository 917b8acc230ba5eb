"""Headless Chromium (Debian's package) driven over the DevTools protocol, for tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time

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
