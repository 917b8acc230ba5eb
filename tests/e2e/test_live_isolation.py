"""The tenant-isolation matrix (issue 14, scope 2), against a real server on a real port.

Every route of the URL configuration, every stream kind and every WebSocket path has a row
here, and a test fails when one has none (or a row names a route that no longer exists): a new
endpoint cannot be missed. Each row is called with its own organization's good credential and
then with every bad one its kind of credential has — none, wrong, revoked, expired, of the
wrong scope or role, of the other organization, of another environment or resource — and must
answer the documented 401/403/404 (or, where another tenant's credential is simply served its
own data, that data): never a byte of the other organization's. Everything organization A owns
is named with a marker (tests/e2e/isolation_world.py); no answer to anyone but A carries it,
and no answer to A's other environment carries A's dev-only marker.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.e2e.isolation_world import two_organizations

pytestmark = pytest.mark.live

OPS_TOKEN = "iso-ops-" + secrets.token_hex(16)
CASES = ("ok", "none", "wrong", "revoked", "expired", "scope", "other_org", "other_env")
OWN = "own"  # answered as for any good credential of the caller's own organization


@dataclass
class Row:
    """``route``: the URL pattern (or stream / WebSocket path) the row covers. ``family``: the
    credential it takes. ``expect``: what a case answers where the family's default is not it;
    a case mapped to None does not apply."""

    route: str
    method: str
    path: str
    family: str
    ok: int = 200
    body: dict | list | None = None
    query: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)
    stream: bool = False
    shows: str = ""  # "secret" / "devonly": A's good credential sees that marker (not vacuous)

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


# What each case answers, by credential family, unless a row says otherwise.
DEFAULTS = {
    "user": {"none": 401, "wrong": 401, "revoked": 401, "expired": 401, "scope": 403,
             "other_org": 404, "other_env": None},
    "apikey": {"none": 401, "wrong": 401, "revoked": 401, "expired": 401, "scope": 403,
               "other_org": 404, "other_env": None},
    "sdk": {"none": 401, "wrong": 401, "revoked": 401, "expired": 401, "scope": None,
            "other_org": OWN, "other_env": OWN},
    "task-token": {"none": 401, "wrong": 401, "revoked": 403, "expired": 401, "scope": None,
                   "other_org": 403, "other_env": 403},
    "company-token": {"none": 401, "wrong": 401, "revoked": 403, "expired": 401,
                      "scope": None, "other_org": 403, "other_env": None},
    "ofrep-token": {"none": 401, "wrong": 401, "revoked": 401, "expired": 401, "scope": None,
                    "other_org": OWN, "other_env": OWN},
    "staff": {"none": 302, "wrong": 302, "revoked": 302, "expired": None, "scope": 302,
              "other_org": 404, "other_env": None},
    "ops": {"none": 401, "wrong": 401, "revoked": None, "expired": None, "scope": 403,
            "other_org": None, "other_env": None},
    "public": {case: None for case in CASES},
}


def rows(a: dict) -> list[Row]:
    """The matrix. ``a`` is organization A's world, with the ids made by the fixture."""
    s, p, f, g = a["slug"], a["project"], a["flag"], a["segment"]
    P, E = f"/api/v1/projects/{p}", f"/api/v1/projects/{p}/environments/dev"
    T = f"/agent-to-agent/{s}/{a['agent']}/tasks"
    task = f"{T}/{a['task']}"
    fresh = uuid.uuid4().hex[:8]
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    analytics = f"/api/projects/{p}/analytics"
    flags_route = "api/v1/projects/<str:project>"
    env_route = f"{flags_route}/environments/<str:env>"
    task_route = "agent-to-agent/^(?P<org>[^/]+)/(?P<agent>[^/]+)/tasks"
    task_id_route = f"{task_route}/(?P<task_id>[A-Za-z0-9_.:-]+)"
    viewer = {"scope": None}  # the lowest role may: nothing below it to refuse
    started = {"type": "conversation.started", "timestamp": now,
               "data": {"conversation_id": f"iso-{fresh}", "mode": "debate",
                        "initial_prompt": "", "participants": [], "system_info": {}}}
    upload = {"metadata": {"originalId": f"iso-up-{fresh}", "initialPrompt": "upload",
                           "startedAt": "2026-11-24T09:00:00Z"},
              "participants": [{"agentId": "x", "agentType": "claude"}],
              "messages": [{"message_id": "m1", "agent_id": "x", "content": "hi",
                            "timestamp": "2026-11-24T09:00:10Z"}]}
    return [
        # Pages and documents anyone may read.
        Row("", "get", "/", "public"),
        Row("accounts/login/", "get", "/accounts/login/", "public"),
        Row("live/flags/", "get", "/live/flags/", "public"),
        Row("api/health", "get", "/api/health", "public"),
        Row("stream/health", "get", "/stream/health", "public"),
        Row("api/schema/", "get", "/api/schema/", "public"),
        Row("api/docs/", "get", "/api/docs/", "public"),
        Row("agent-to-agent/^(?P<org>[^/]+)/(?P<agent>[^/]+)/\\.well-known/agent-card\\.json$",
            "get", f"/agent-to-agent/{s}/{a['agent']}/.well-known/agent-card.json", "public"),
        # Logging out is a form post: without the session's CSRF token it is refused.
        Row("accounts/logout/", "post", "/accounts/logout/", "public", ok=403),
        # Credentials for credentials.
        Row("api/auth/token", "post", "/api/auth/token", "login"),
        Row("api/auth/token/refresh", "post", "/api/auth/token/refresh", "refresh"),
        # Staff pages (a staff session of the organization).
        Row("live/sessions/", "get", "/live/sessions/", "staff", query={"organization": s},
            expect={"other_org": 404}),
        Row("live/sessions/<int:conversation_id>/", "get",
            f"/live/sessions/{a['conversation_pk']}/", "staff", shows="secret"),
        Row("live/tasks/<int:task_id>/", "get", f"/live/tasks/{a['task_pk']}/", "staff"),
        Row("live/analytics/", "get", "/live/analytics/", "staff", query={"project": p}),
        Row("live/company/", "get", "/live/company/", "staff", query={"companyId": s},
            expect={"scope": None, "other_org": 403}),  # any member (403 page for others)
        # Operators.
        Row("metrics", "get", "/metrics", "ops"),
        Row("stream/stats", "get", "/stream/stats", "ops"),
        # Company live updates.
        Row("stream/token", "post", "/stream/token", "user", ok=201, query={"companyId": s},
            expect={"scope": None, "other_org": 403}),
        Row("stream/publish", "post", "/stream/publish", "apikey:publish", ok=202,
            body={"companyId": s, "type": "metrics.calculated", "data": {"value": 1}},
            expect={"other_org": 403}),
        # Analytics dashboards (viewer).
        Row("api/projects/<str:project>/analytics/flags", "get", f"{analytics}/flags",
            "user:viewer", expect=viewer),
        Row("api/projects/<str:project>/analytics/flags/<str:flag>/evaluations", "get",
            f"{analytics}/flags/{f}/evaluations", "user:viewer", expect=viewer,
            query={"environment": "dev"}),
        Row("api/projects/<str:project>/analytics/stale", "get", f"{analytics}/stale",
            "user:viewer", expect=viewer),
        Row("api/projects/<str:project>/analytics/events/<str:name>", "get",
            f"{analytics}/events/iso-event", "user:viewer", expect=viewer),
        Row("api/projects/<str:project>/analytics/unknown-flags", "get",
            f"{analytics}/unknown-flags", "user:viewer", expect=viewer),
        # Agent sessions (organization API keys; another organization's key works on its own).
        Row("api/ingest", "post", "/api/ingest", "apikey:ingest", ok=201, body=started,
            expect={"other_org": OWN}),
        Row("api/sessions/upload", "post", "/api/sessions/upload", "apikey:upload", ok=201,
            body=upload, expect={"other_org": OWN}),
        Row("api/sessions", "get", "/api/sessions", "apikey:read", expect={"other_org": OWN},
            shows="secret"),
        Row("api/sessions/<int:conversation_id>", "get", f"/api/sessions/{a['conversation_pk']}",
            "apikey:read", shows="secret"),
        # Agent-to-agent tasks: the agent's key, or a member (user token).
        Row(f"{task_route}/?$", "post", f"{T}/", "apikey:agent", ok=201,
            body={"id": f"iso-new-{fresh}"}),
        Row(f"{task_route}/?$", "post", f"{T}/", "user:viewer", ok=201, expect=viewer,
            body={"id": f"iso-new-u-{fresh}"}),
        Row(f"{task_id_route}/?$", "get", f"{task}/", "apikey:agent", shows="secret"),
        Row(f"{task_id_route}/?$", "get", f"{task}/", "user:viewer", expect=viewer),
        Row(f"{task_id_route}/messages/?$", "get", f"{task}/messages/", "user:viewer",
            expect=viewer, shows="secret"),
        Row(f"{task_id_route}/messages/?$", "post", f"{task}/messages/", "apikey:agent",
            ok=201, body={"kind": "progress", "content": "more", "progress": 20}),
        Row(f"{task_id_route}/cancel/?$", "post",
            f"{T}/{a['doomed_task']}/cancel/", "apikey:agent"),
        Row(f"{task_id_route}/stream-token/?$", "post", f"{task}/stream-token/", "user:viewer",
            ok=201, expect={"scope": 403}),  # scope: an API key may not ask for one
        # Feature flags: the management API (roles), then the SDK API (environment keys).
        Row("api/v1/projects/", "get", "/api/v1/projects/", "user:viewer",
            expect={**viewer, "other_org": OWN}, shows="secret"),
        Row("api/v1/projects/", "post", "/api/v1/projects/", "user:admin", ok=201,
            body={"organization": s, "key": f"iso-p-{fresh}"}),
        Row(f"{flags_route}/", "get", f"{P}/", "user:viewer", expect=viewer),
        Row(f"{flags_route}/environments/", "get", f"{P}/environments/", "user:viewer",
            expect=viewer),
        Row(f"{flags_route}/environments/", "post", f"{P}/environments/", "user:admin",
            ok=201, body={"key": f"e-{fresh}"}),
        Row(f"{env_route}/", "get", f"{E}/", "user:viewer", expect=viewer),
        Row(f"{env_route}/keys/", "get", f"{E}/keys/", "user:admin"),
        Row(f"{env_route}/keys/", "post", f"{E}/keys/", "user:admin", ok=201,
            body={"kind": "client"}),
        Row(f"{env_route}/keys/<str:key_id>/revoke/", "post",
            f"{E}/keys/{a['doomed_key']}/revoke/", "user:admin"),
        Row(f"{env_route}/keys/<str:key_id>/rotate/", "post",
            f"{E}/keys/{a['rotated_key']}/rotate/", "user:admin", ok=201, body={}),
        Row(f"{env_route}/flags/<str:flag>/", "get", f"{E}/flags/{f}/", "user:viewer",
            expect=viewer, shows="devonly"),
        Row(f"{env_route}/flags/<str:flag>/", "patch", f"{E}/flags/{f}/", "user:editor",
            body={"enabled": True}),
        Row(f"{env_route}/flags/<str:flag>/scheduled-changes/", "get",
            f"{E}/flags/{f}/scheduled-changes/", "user:viewer", expect=viewer),
        Row(f"{env_route}/flags/<str:flag>/scheduled-changes/", "post",
            f"{E}/flags/{f}/scheduled-changes/", "user:editor", ok=201,
            body={"scheduledAt": "2999-01-01T00:00:00Z", "changeType": "enable"}),
        Row(f"{env_route}/flags/<str:flag>/scheduled-changes/<str:change_id>/", "get",
            f"{E}/flags/{f}/scheduled-changes/{a['change']}/", "user:viewer", expect=viewer),
        Row(f"{env_route}/flags/<str:flag>/scheduled-changes/<str:change_id>/", "delete",
            f"{E}/flags/{f}/scheduled-changes/{a['doomed_change']}/", "user:editor", ok=204),
        Row(f"{flags_route}/flags/", "get", f"{P}/flags/", "user:viewer", expect=viewer,
            shows="secret"),
        Row(f"{flags_route}/flags/", "post", f"{P}/flags/", "user:editor", ok=201,
            body={"key": f"f-{fresh}"}),
        Row(f"{flags_route}/flags/<str:flag>/", "get", f"{P}/flags/{f}/", "user:viewer",
            expect=viewer),
        Row(f"{flags_route}/flags/<str:flag>/", "patch", f"{P}/flags/{f}/", "user:editor",
            body={"description": "edited"}),
        Row(f"{flags_route}/flags/<str:flag>/", "delete", f"{P}/flags/{a['doomed_flag']}/",
            "user:editor", ok=204),
        Row(f"{flags_route}/flags/<str:flag>/audit/", "get", f"{P}/flags/{f}/audit/",
            "user:viewer", expect=viewer),
        Row(f"{flags_route}/segments/", "get", f"{P}/segments/", "user:viewer", expect=viewer,
            shows="secret"),
        Row(f"{flags_route}/segments/", "post", f"{P}/segments/", "user:editor", ok=201,
            body={"key": f"s-{fresh}"}),
        Row(f"{flags_route}/segments/<str:segment>/", "get", f"{P}/segments/{g}/",
            "user:viewer", expect=viewer),
        Row(f"{flags_route}/segments/<str:segment>/", "patch", f"{P}/segments/{g}/",
            "user:editor", body={"description": "edited"}),
        Row(f"{flags_route}/segments/<str:segment>/", "delete",
            f"{P}/segments/{a['doomed_segment']}/", "user:editor", ok=204),
        Row("api/sdk/flags", "get", "/api/sdk/flags", "sdk:client", shows="devonly"),
        Row("api/sdk/evaluate", "post", "/api/sdk/evaluate", "sdk:client",
            body={"context": {"targetingKey": "u1"}}),
        Row("api/sdk/events", "post", "/api/sdk/events", "sdk:client", ok=202,
            body={"evaluations": [{"flagKey": f, "variant": "true", "contextId": "u1",
                                   "timestamp": now}]}),
        Row("api/sdk/track", "post", "/api/sdk/track", "sdk:client", ok=202,
            body={"name": "iso-event", "contextId": "u1"}),
        Row("ofrep/v1/evaluate/flags/<str:key>", "post", f"/ofrep/v1/evaluate/flags/{f}",
            "sdk:server", body={"context": {"targetingKey": "u1"}},
            expect={"scope": 403}),  # scope: a client key
        Row("ofrep/v1/evaluate/flags", "post", "/ofrep/v1/evaluate/flags", "sdk:client",
            body={"context": {"targetingKey": "u1"}}),
        # Streams, each kind by its own credential.
        Row("/api/sdk/stream", "get", "/api/sdk/stream", "sdk:client", stream=True,
            shows="devonly"),
        Row("/api/v1/events/stream", "get", "/api/v1/events/stream", "sdk:client", stream=True),
        Row("/ofrep/v1/stream", "get", "/ofrep/v1/stream", "ofrep-token", stream=True),
        Row("/api/realtime/stream", "get", "/api/realtime/stream", "apikey:read", stream=True,
            expect={"other_org": OWN}),
        Row("/api/realtime/stream", "get", "/api/realtime/stream", "staff", stream=True,
            query={"organization": s}, expect={"none": 401, "wrong": 401, "revoked": 401,
                                               "scope": 401}),
        Row("/agent-to-agent/{org}/{agent}/tasks/{task}/stream", "get", f"{task}/stream",
            "task-token", stream=True),
        Row("/agent-to-agent/{org}/{agent}/tasks/{task}:subscribe", "post",
            f"{task}:subscribe", "task-token", stream=True),
        Row("/stream/updates", "get", "/stream/updates", "company-token", stream=True,
            query={"companyId": s}),
        Row("ws", "websocket", "/ws", "sdk:client"),
    ]


def django_routes() -> set[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern) == "admin/":
                    continue  # generated from the admin's registry: test_admin_sweep
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                # Pushpin's follow-up requests to a stream path (they carry Grip-Sig); any
                # other request to that path is the stream, covered by the stream's row.
                if pattern.callback.__name__ != "grip_follow_up":
                    yield route
    return set(walk(get_resolver().url_patterns))


def stream_routes() -> set[str]:
    from streaming.kinds import registry

    # The test settings add a throw-away kind of their own (tests/streaming/notes), which the
    # live server, on the project's settings, does not have.
    return {path for path, kind in registry.paths.items()
            if not type(kind).__module__.startswith("tests.")} | {
        route for route, _ in registry.websockets}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with two_organizations(tmp_path_factory.mktemp("isolationvar"), OPS_TOKEN) as live:
        yield live


@pytest.fixture(scope="module")
def world(stack):
    """Both organizations, with what the rows' URLs need made through the API."""
    url = stack.base_url
    for tag in ("a", "b"):
        w = stack.world[tag]
        admin = {"Authorization": f"Bearer {w['tokens']['user']['admin']}"}
        upload = {"metadata": {"originalId": f"iso-{tag}", "initialPrompt": f"{w['secret']} prompt",
                               "startedAt": "2026-11-24T09:00:00Z"},
                  "participants": [{"agentId": "x", "agentType": "claude"}],
                  "messages": [{"message_id": "m1", "agent_id": "x",
                                "content": f"{w['secret']} message",
                                "timestamp": "2026-11-24T09:00:10Z"}]}
        answer = httpx.post(f"{url}/api/sessions/upload", json=upload,
                            headers={"Authorization": f"Bearer {w['api']['upload']}"})
        assert answer.status_code == 201, answer.text
        w["conversation_pk"] = answer.json()["id"]
        P = f"{url}/api/v1/projects/{w['project']}"
        E = f"{P}/environments/dev"
        for name in ("doomed_key", "rotated_key"):
            answer = httpx.post(f"{E}/keys/", json={"kind": "server"}, headers=admin)
            assert answer.status_code == 201, answer.text
            w[name] = answer.json()["id"]
        for name in ("change", "doomed_change"):
            answer = httpx.post(f"{E}/flags/{w['flag']}/scheduled-changes/", headers=admin,
                                json={"scheduledAt": "2999-01-01T00:00:00Z",
                                      "changeType": "enable"})
            assert answer.status_code == 201, answer.text
            w[name] = answer.json()["id"]
        answer = httpx.post(f"{P}/flags/", json={"key": "iso-doomed"}, headers=admin)
        assert answer.status_code == 201, answer.text
        w["doomed_flag"] = "iso-doomed"
        answer = httpx.post(f"{P}/segments/", json={"key": "iso-doomed"}, headers=admin)
        assert answer.status_code == 201, answer.text
        w["doomed_segment"] = "iso-doomed"
        answer = httpx.post(f"{url}/agent-to-agent/{w['slug']}/{w['agent']}/tasks/",
                            json={"id": f"iso-{tag}-doomed"},
                            headers={"Authorization": f"Bearer {w['api']['agent']}"})
        assert answer.status_code == 201, answer.text
        w["doomed_task"] = f"iso-{tag}-doomed"
        refresh = httpx.post(f"{url}/api/auth/token", json={
            "username": w["users"]["viewer"], "password": w["password"]}).json()["refresh"]
        w["tokens"]["refresh"] = refresh
        stack.remember(refresh)
    return stack.world


def session_cookies(stack, username: str, password: str) -> httpx.Cookies:
    """Log in through the login form, as a browser does."""
    with httpx.Client(base_url=stack.base_url) as client:
        page = client.get("/accounts/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = client.post("/accounts/login/", data={
            "username": username, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{stack.base_url}/accounts/login/"})
        assert answer.status_code == 302, answer.text
        return client.cookies


def credential(stack, world, row: Row, case: str):
    """``(headers, query, cookies)`` for ``case`` of ``row``'s family, or None if the family
    has no such case."""
    a, b = world["a"], world["b"]
    family, _, detail = row.family.partition(":")
    if case == "none":
        return {}, {}, None
    if family == "user":
        role = detail or "viewer"
        lower = {"admin": "editor", "editor": "viewer"}.get(role)
        token = {"ok": a["tokens"]["user"][role], "wrong": "not-a-jwt." + secrets.token_hex(8),
                 "revoked": a["tokens"]["user-revoked"], "expired": a["tokens"]["user-expired"],
                 "scope": a["tokens"]["user"][lower] if lower else a["tokens"]["user"]["outsider"],
                 "other_org": b["tokens"]["user"]["admin"]}.get(case)
        if row.route.startswith("agent-to-agent") and case == "scope":
            # a task's stream token is for members: an API key is the wrong kind
            return {"Authorization": f"Bearer {a['api']['all']}"}, {}, None
        return None if token is None else ({"Authorization": f"Bearer {token}"}, {}, None)
    if family == "apikey":
        other_scope = next(s for s in ("read", "ingest", "agent") if s != detail)
        key = {"ok": a["api"][detail], "wrong": "ap_live_" + secrets.token_urlsafe(32),
               "revoked": a["api"]["revoked"], "expired": a["api"]["expired"],
               "scope": a["api"][other_scope], "other_org": b["api"][detail]}.get(case)
        return None if key is None else ({"Authorization": f"Bearer {key}"}, {}, None)
    if family == "sdk":
        key = {"ok": a["sdk"][f"dev-{detail}"], "wrong": "srv-" + secrets.token_urlsafe(32),
               "revoked": a["sdk"]["revoked"], "expired": a["sdk"]["expired"],
               "scope": a["sdk"]["dev-client"], "other_org": b["sdk"][f"dev-{detail}"],
               "other_env": a["sdk"][f"prod-{detail}"]}.get(case)
        if key is None:
            return None
        if row.method == "websocket":
            return {}, {"sdkKey": key} if key.startswith("cli-") else {}, \
                {"Authorization": f"Bearer {key}"}
        return {"X-API-Key": key}, {}, None
    if family in ("task-token", "company-token", "ofrep-token"):
        name = family.removesuffix("-token")
        token = {"ok": a["tokens"][name], "wrong": secrets.token_urlsafe(40),
                 "revoked": a["tokens"][f"{name}-revoked"],
                 "expired": a["tokens"][f"{name}-expired"],
                 "other_org": b["tokens"][name],
                 "other_env": a["tokens"].get(f"{name}-other")
                 or a["tokens"].get(f"{name}-other-env")}.get(case)
        return None if token is None else ({}, {"token": token}, None)
    if family == "staff":
        user = {"ok": (a["users"]["staff"], a["password"]),
                "wrong": (a["users"]["staff"], None),
                "revoked": (f"{a['slug'][-1]}-leaver", a["password"]),
                "scope": (a["users"]["admin"], a["password"]),  # a member, not staff
                "other_org": (b["users"]["staff"], b["password"])}.get(case)
        if user is None:
            return None
        username, password = user
        if password is None:
            return {}, {}, httpx.Cookies({"sessionid": secrets.token_hex(16)})
        if case == "revoked":  # the leaver's password changed: the old one logs in nowhere
            return {}, {}, httpx.Cookies({"sessionid": secrets.token_hex(16)})
        return {}, {}, session_cookies(stack, username, password)
    if family == "ops":
        header = {"ok": OPS_TOKEN, "wrong": "iso-ops-" + secrets.token_hex(16)}.get(case)
        if header:
            return {"Authorization": f"Bearer {header}"}, {}, None
        if case == "scope":  # a logged-in member who is not staff
            return {}, {}, session_cookies(stack, a["users"]["admin"], a["password"])
        return None
    if family == "public":
        return ({}, {}, None) if case == "ok" else None
    raise AssertionError(f"no credentials for family {row.family}")


def call(stack, row: Row, headers: dict, query: dict, cookies) -> tuple[int, str, dict]:
    """``(status, body, headers)`` of ``row`` called as a client would; a stream answering 200
    is read for a moment (its opening frames), a WebSocket until its first message."""
    if row.method == "websocket":
        return websocket_call(stack, row, query, cookies)
    with httpx.Client(base_url=stack.base_url, cookies=cookies,
                      timeout=httpx.Timeout(10, read=1.5)) as client:
        request = client.build_request(row.method.upper(), row.path, params=row.query | query,
                                       headers=headers,
                                       json=row.body if row.body is not None else None)
        response = client.send(request, stream=True)
        body = b""
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if row.stream and (len(body) > 65536 or b"\n\n" in body and
                                   response.status_code == 200 and len(body) > 512):
                    break
        except httpx.ReadTimeout:
            if not row.stream:
                raise
        finally:
            response.close()
        return response.status_code, body.decode("utf-8", "replace"), dict(response.headers)


def websocket_call(stack, row: Row, query: dict, headers) -> tuple[int, str, dict]:
    from urllib.parse import urlencode

    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    url = stack.origin_url.replace("http", "ws", 1) + row.path
    if query:
        url += "?" + urlencode(query)
    try:
        with connect(url, additional_headers=headers or {}, open_timeout=5) as socket:
            received = ""
            try:
                while True:  # until the server says it is connected, or closes
                    message = socket.recv(timeout=5)
                    received += message
                    if json.loads(message).get("type") == "connected":
                        return 101, received, {}
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else 1006, received, {}
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body.decode(), {}


def expected_of(row: Row, case: str):
    if case == "ok":
        return row.ok
    family = row.family.partition(":")[0]
    return row.expect.get(case, DEFAULTS[family][case])


def check(row: Row, case: str, status: int, body: str, headers: dict, world) -> list[str]:
    """What is wrong with this answer (nothing: [])."""
    a = world["a"]
    expected = expected_of(row, case)
    problems = []
    if row.method == "websocket":
        wanted = {200: 101, 401: 4401}.get(row.ok if expected == OWN else expected, expected)
        if status != wanted:
            problems.append(f"{case}: {status} (wanted {wanted})")
    elif status != (row.ok if expected == OWN else expected):
        problems.append(f"{case}: {status} (wanted {expected}) {body[:200]!r}")
    marker = {"secret": a["secret"], "devonly": f"{a['secret']}-DEVONLY"}.get(row.shows)
    if case == "ok" and marker and marker not in body:
        problems.append(f"ok: {marker} not in the answer, so the checks above could not fail")
    if case == "other_env":
        if f"{a['secret']}-DEVONLY" in body:
            problems.append(f"{case}: the other environment's data in the answer")
    elif case != "ok" and a["secret"] in body:
        problems.append(f"{case}: organization A's data in the answer")
    family = row.family.partition(":")[0]
    if 400 <= status < 500 and family not in ("staff", "public") and row.method != "websocket":
        # OFREP answers in its own protocol's words (errorCode, errorDetails)
        words = {"errorDetails"} if row.path.startswith("/ofrep/v1/evaluate") else {
            "error", "detail"}
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append(f"{case}: a {status} that is not JSON")
        elif not words <= set(json.loads(body)):
            problems.append(f"{case}: a {status} without {' and '.join(sorted(words))}")
    if status == 302 and "/login/" not in headers.get("location", ""):
        problems.append(f"{case}: a redirect elsewhere than the login page")
    return problems


def matrix_ids():
    placeholder = {k: "0" for k in ("conversation_pk", "task_pk", "doomed_key", "rotated_key",
                                    "change", "doomed_change", "doomed_flag", "doomed_segment",
                                    "doomed_task")}
    world = {"slug": "a", "project": "p", "flag": "f", "segment": "g", "agent": "x",
             "task": "t", "secret": "S", **placeholder}
    return [f"{row.name} [{row.family}]" for row in rows(world)
            if row.family not in ("login", "refresh")]


@pytest.mark.parametrize("index", range(len(matrix_ids())), ids=matrix_ids())
def test_isolation_matrix(stack, world, index):
    row = [r for r in rows(world["a"]) if r.family not in ("login", "refresh")][index]
    problems = []
    for case in CASES[1:] + ("ok",):  # the good credential last: some rows change things
        if expected_of(row, case) is None:
            continue
        given = credential(stack, world, row, case)
        if given is None:
            continue
        headers, query, cookies = given
        status, body, answer_headers = call(stack, row, headers, query, cookies)
        problems += check(row, case, status, body, answer_headers, world)
        sent = [value.split()[-1] for value in list(headers.values()) + list(query.values())]
        if status >= 400 and any(secret and secret in body for secret in sent):
            problems.append(f"{case}: the credential sent is in the error body")
    assert not problems, f"{row.name} [{row.family}]:\n" + "\n".join(problems)


def template(route: str) -> str:
    """A URL pattern as the OpenAPI schema writes its path."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # regex patterns' groups
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path converters
    route = route.replace("^", "").replace("/?$", "/").replace("$", "").replace("\\.", ".")
    return route if route.startswith("/") else "/" + route


def shape(path: str) -> str:
    """A path with its parameters unnamed and no trailing slash: how routes and the schema
    are compared (they name a task's id differently)."""
    return re.sub(r"\{\w+\}", "{}", path).rstrip("/")


def test_every_route_and_operation_has_a_row(world, client):
    """A new URL pattern, stream kind, WebSocket path or documented operation without a row
    fails here; so does a row whose route is gone."""
    covered = {row.route for row in rows(world["a"])}
    routes = django_routes() | stream_routes()
    without_row, gone = sorted(routes - covered), sorted(covered - routes)
    assert not without_row, f"routes without a row: {without_row}"
    assert not gone, f"rows of routes that no longer exist: {gone}"
    schema = client.get("/api/schema/", {"format": "json"}).json()
    documented = {(method, shape(path)) for path, item in schema["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")
                  and not path.startswith("/test/")}  # the test settings' throw-away kind
    in_rows = {(row.method, shape(template(row.route))) for row in rows(world["a"])}
    in_rows |= {("get", shape(template(row.route))) for row in rows(world["a"]) if row.stream}
    undocumented = sorted(documented - in_rows)
    assert not undocumented, f"documented operations without a row: {undocumented}"


def test_login_and_refresh__refuse_bad_credentials(stack, world):
    a = world["a"]
    url = stack.base_url
    token = httpx.post(f"{url}/api/auth/token", json={"username": a["users"]["viewer"],
                                                      "password": a["password"]})
    assert token.status_code == 200 and set(token.json()) >= {"access", "refresh"}
    for body, status in [({}, 400), ({"username": a["users"]["viewer"]}, 400),
                         ({"username": a["users"]["viewer"], "password": "wrong"}, 401),
                         ({"username": "nobody-here", "password": a["password"]}, 401),
                         ({"username": f"{a['slug'][-1]}-leaver", "password": a["password"]},
                          401)]:
        answer = httpx.post(f"{url}/api/auth/token", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"] and a["password"] not in answer.text
    refreshed = httpx.post(f"{url}/api/auth/token/refresh",
                           json={"refresh": a["tokens"]["refresh"]})
    assert refreshed.status_code == 200 and refreshed.json()["access"]
    for body, status in [({}, 400), ({"refresh": "nonsense"}, 401),
                         ({"refresh": a["tokens"]["user"]["viewer"]}, 401),  # an access token
                         ({"refresh": a["tokens"]["user-revoked"]}, 401)]:
        answer = httpx.post(f"{url}/api/auth/token/refresh", json=body)
        assert answer.status_code == status, (body, answer.text)


def test_admin__every_page_needs_staff_and_shows_no_other_organization(stack, world):
    """Generated from the admin's registry: every model's list and add page."""
    from django.contrib import admin

    a, b = world["a"], world["b"]
    own = session_cookies(stack, a["users"]["staff"], a["password"])
    member = session_cookies(stack, a["users"]["admin"], a["password"])
    other = session_cookies(stack, b["users"]["staff"], b["password"])
    seen_own_marker = []
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for path in (changelist, changelist + "add/"):
            for cookies, who in ((None, "nobody"), (member, "a member who is not staff")):
                with httpx.Client(base_url=stack.base_url, cookies=cookies) as c:
                    answer = c.get(path)
                assert answer.status_code == 302 and "/admin/login/" in answer.headers[
                    "location"], (path, who, answer.status_code)
        with httpx.Client(base_url=stack.base_url, cookies=other) as c:
            answer = c.get(changelist)
        assert answer.status_code in (200, 403), (changelist, answer.status_code)
        assert a["secret"] not in answer.text, changelist
        with httpx.Client(base_url=stack.base_url, cookies=own) as c:
            if a["secret"] in c.get(changelist).text:
                seen_own_marker.append(model._meta.model_name)
    # The check above can fail: A's own staff do see A's marked rows.
    assert {"organization", "project", "flag", "conversation"} <= set(seen_own_marker)


def test_streams__never_carry_another_organizations_or_environments_events(stack, world):
    """B's streams of every kind (and A's production streams) are open while A writes
    everything that publishes; then B (and A's production) write a sentinel. Each stream
    gets its sentinel, and nothing of A's (of A's dev environment) before it."""
    from tests.sse_client import SSEReader

    a, b = world["a"], world["b"]
    url = stack.base_url
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    def write(w, secret, env="dev"):
        """Everything that publishes, in ``w``'s organization, carrying ``secret``."""
        state = f"{url}/api/v1/projects/{w['project']}/environments/{env}/flags/{w['flag']}/"
        rules = [{"constraints": [{"attribute": "team", "operator": "in", "values": [secret]}],
                  "variant": "true"}]
        answers = [httpx.patch(state, json={"rules": rules},
                               headers=bearer(w["tokens"]["user"]["editor"]))]
        if env == "dev":
            answers.append(httpx.post(f"{url}/api/ingest", headers=bearer(w["api"]["ingest"]),
                                      json={"type": "message.created", "timestamp": now, "data": {
                                          "conversation_id": f"iso-live-{w['slug']}",
                                          "message_id": uuid.uuid4().hex, "agent_id": "x",
                                          "agent_type": "claude", "content": secret}}))
            answers.append(httpx.post(f"{url}/stream/publish", headers=bearer(w["api"]["publish"]),
                                      json={"companyId": w["slug"], "type": "metrics.calculated",
                                            "data": {"metricName": secret, "value": 1}}))
            answers.append(httpx.post(
                f"{url}/agent-to-agent/{w['slug']}/{w['agent']}/tasks/{w['task']}/messages/",
                headers=bearer(w["api"]["agent"]),
                json={"kind": "progress", "content": secret, "progress": 50}))
        for answer in answers:
            assert answer.status_code in (200, 201, 202), answer.text

    b_streams = {
        "sdk": (f"{url}/api/sdk/stream", {"X-API-Key": b["sdk"]["dev-client"]}),
        "events": (f"{url}/api/v1/events/stream", {"X-API-Key": b["sdk"]["dev-client"]}),
        "sessions": (f"{url}/api/realtime/stream", bearer(b["api"]["read"])),
        "company": (f"{url}/stream/updates?companyId={b['slug']}&token={b['tokens']['company']}",
                    {}),
        "task": (f"{url}/agent-to-agent/{b['slug']}/{b['agent']}/tasks/{b['task']}/stream"
                 f"?token={b['tokens']['task']}", {}),
    }
    a_production = {
        "sdk (A production)": (f"{url}/api/sdk/stream", {"X-API-Key": a["sdk"]["prod-client"]}),
        "events (A production)": (f"{url}/api/v1/events/stream",
                                  {"X-API-Key": a["sdk"]["prod-client"]}),
    }
    # The control: A's own dev stream does get A's change, so the checks below can fail.
    control = SSEReader(f"{url}/api/v1/events/stream", {"X-API-Key": a["sdk"]["dev-client"]})
    readers = {name: SSEReader(target, headers) for name, (target, headers) in
               (b_streams | a_production).items()}
    for name, reader in readers.items():
        assert reader.wait_open() == 200, (name, reader.body)

    assert control.wait_open() == 200
    write(a, f"{a['secret']}-LIVE")
    assert f"{a['secret']}-LIVE" in control.next(timeout=15).data
    control.close()
    write(b, "BRAVO-SENTINEL")
    write(a, "ALPHA-PROD-SENTINEL", env="prod")
    for name, reader in readers.items():
        sentinel = "ALPHA-PROD-SENTINEL" if "production" in name else "BRAVO-SENTINEL"
        forbidden = f"{a['secret']}-DEVONLY" if "production" in name else a["secret"]
        seen = []
        while not any(sentinel in data for data in seen):
            seen.append(reader.next(timeout=15).data)
        leaked = [data for data in seen if forbidden in data or f"{a['secret']}-LIVE" in data]
        assert not leaked, (name, leaked)
    for reader in readers.values():
        reader.close()


def test_every_write__a_body_over_its_limit__413_json_and_nothing_stored(stack, world):
    """Request size limits everywhere: every row that takes a body, sent a JSON body past its
    limit (the 64 MB session upload's for that one; 6 MB, past every other endpoint's), with
    its good credential: 413 and a JSON error. Rows that read no body are refused past
    MAX_REQUEST_BYTES, before the application sees them (the server does not buffer it)."""
    a = world["a"]
    writes = [row for row in rows(a) if row.method in ("post", "patch") and not row.stream
              and row.family not in ("public",)]
    assert len(writes) >= 20
    problems = []
    huge = b'{"padding": "' + b"x" * (65 * 1024 * 1024) + b'"}'
    large = b'{"padding": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    for row in writes:
        given = credential(stack, world, row, "ok") if row.family not in (
            "login", "refresh") else ({}, {}, None)
        headers, query, cookies = given
        reads_no_body = row.body is None and row.family not in ("login", "refresh")
        body = huge if row.path == "/api/sessions/upload" or reads_no_body else large
        with httpx.Client(base_url=stack.base_url, cookies=cookies, timeout=60) as client:
            try:
                answer = client.request(row.method.upper(), row.path,
                                        params=row.query | query, content=body,
                                        headers={**headers, "Content-Type": "application/json"})
            except httpx.WriteError:  # refused and closed while the body was still going out
                problems.append(f"{row.name}: closed before an answer could be read")
                continue
        ok_json = answer.headers.get("content-type", "").startswith("application/json")
        if answer.status_code != 413 or not ok_json:
            problems.append(f"{row.name}: {answer.status_code} {answer.text[:120]!r}")
    assert not problems, "\n".join(problems)


def test_a_chunked_body_past_the_server_limit__413_without_buffering_it(stack, world):
    """No Content-Length to refuse on: the server counts the chunks as they come."""
    a = world["a"]

    def chunks():
        for _ in range(70):
            yield b"x" * (1024 * 1024)

    answer = httpx.post(f"{stack.base_url}/stream/token", params={"companyId": a["slug"]},
                        content=chunks(), timeout=60,
                        headers={"Authorization": f"Bearer {a['tokens']['user']['admin']}"})
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"
