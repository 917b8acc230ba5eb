"""config.cors with a list of origins: the listed one is echoed (with Vary), any other gets
no CORS header; the preflight of a path outside the SDK API and OFREP is not answered."""

import asyncio

from config.cors import with_cors


async def inner(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def call(method: str, path: str, origin: str) -> tuple[int, dict]:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"origin", origin.encode())]}
    asyncio.run(with_cors(inner)(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"])


def test_listed_origins__echoed_with_vary__others_nothing(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    status, headers = call("GET", "/api/sdk/flags", "https://app.example.com")
    assert headers[b"access-control-allow-origin"] == b"https://app.example.com"
    assert headers[b"vary"] == b"Origin"
    status, headers = call("GET", "/api/sdk/flags", "https://evil.example.com")
    assert status == 200 and b"access-control-allow-origin" not in headers
    status, headers = call("OPTIONS", "/ofrep/v1/evaluate/flags", "https://evil.example.com")
    assert status == 204 and b"access-control-allow-origin" not in headers


def test_other_paths__untouched(settings):
    settings.CORS_ALLOWED_ORIGINS = ["*"]
    status, headers = call("OPTIONS", "/api/v1/projects/", "https://app.example.com")
    assert status == 200 and b"access-control-allow-origin" not in headers  # the app answered
