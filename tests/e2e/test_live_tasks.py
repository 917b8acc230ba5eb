"""Agent-to-agent tasks against a real server (issue 11, done-when): the a2a-sdk client and
httpx-sse follow a task from creation to completion; a dropped stream resumes with nothing
missing or repeated; polling returns the same messages; every token failure is refused."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.live import LiveStack
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("tasksvar")).running() as live:
        user = httpx.post(f"{live.base_url}/api/auth/token", json={
            "username": "admin", "password": live.credentials["password"]}).json()["access"]
        agent_key = live.manage("create_api_key", "acme", "--scope", "agent").strip() \
            .splitlines()[-1]
        live.user_headers = {"Authorization": f"Bearer {user}"}
        live.agent_headers = {"Authorization": f"Bearer {agent_key}"}
        yield live


BASE = "/agent-to-agent/acme/writer/tasks"


def create(stack, task_id):
    response = httpx.post(f"{stack.base_url}{BASE}/", json={"id": task_id},
                          headers=stack.user_headers)
    assert response.status_code == 201, response.text
    return response.json()


def post(stack, task_id, kind, **extra):
    response = httpx.post(f"{stack.base_url}{BASE}/{task_id}/messages",
                          json={"kind": kind, **extra}, headers=stack.agent_headers)
    assert response.status_code == 201, response.text


def token(stack, task_id):
    response = httpx.post(f"{stack.base_url}{BASE}/{task_id}/stream-token",
                          headers=stack.user_headers)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def test_a2a_sdk_client__follows_a_task_to_completion(stack):
    from a2a.client import ClientConfig, create_client
    from a2a.types.a2a_pb2 import SubscribeToTaskRequest

    create(stack, "a2a-1")
    post(stack, "a2a-1", "progress", progress=10)
    stream_token = token(stack, "a2a-1")

    async def follow():
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {stream_token}"},
                                     timeout=30) as http:
            config = ClientConfig(httpx_client=http, supported_protocol_bindings=["HTTP+JSON"])
            client = await create_client(f"{stack.base_url}/agent-to-agent/acme/writer",
                                         config)
            seen = []

            async def agent_works():
                await asyncio.sleep(0.5)
                for kind, extra in [("chunk", {"content": "Hello"}),
                                    ("chunk", {"content": ", A2A"}),
                                    ("complete", {"content": "done"})]:
                    await asyncio.to_thread(post, stack, "a2a-1", kind, **extra)

            worker = asyncio.ensure_future(agent_works())
            async for response in client.subscribe(SubscribeToTaskRequest(id="a2a-1")):
                seen.append(response)
            await worker
            return seen

    seen = asyncio.run(follow())
    kinds = [response.WhichOneof("payload") for response in seen]
    assert kinds == ["task", "artifact_update", "artifact_update", "status_update"], kinds
    assert seen[0].task.id == "a2a-1"
    assert "".join(r.artifact_update.artifact.parts[0].text for r in seen[1:3]) == "Hello, A2A"
    assert seen[-1].status_update.status.state == 3  # TASK_STATE_COMPLETED


def test_agent_card__names_the_http_json_interface(stack):
    card = httpx.get(f"{stack.base_url}/agent-to-agent/acme/writer/.well-known/"
                     "agent-card.json").json()
    assert card["supportedInterfaces"][0]["url"].endswith("/agent-to-agent/acme/writer")
    assert card["capabilities"] == {"streaming": True}


def test_httpx_sse__drop_and_resume__nothing_missing_or_twice__polling_agrees(stack):
    create(stack, "sse-1")
    url = f"{stack.base_url}{BASE}/sse-1/stream?token={token(stack, 'sse-1')}"
    first = SSEReader(url, {})
    assert first.wait_open() == 200
    task_frame = first.next()
    assert json.loads(task_frame.data)["task"]["id"] == "sse-1"
    for n in range(3):
        post(stack, "sse-1", "chunk", content=f"{n} ")
    got = [first.next() for _ in range(3)]
    first.close()  # dropped
    for n in range(3, 6):
        post(stack, "sse-1", "chunk", content=f"{n} ")
    post(stack, "sse-1", "complete")
    url = f"{stack.base_url}{BASE}/sse-1/stream?token={token(stack, 'sse-1')}"
    again = SSEReader(url, {"Last-Event-ID": got[-1].id})
    assert again.wait_open() == 200
    snapshot = json.loads(again.next().data)["task"]
    rest = [again.next() for _ in range(4)]
    assert again.closed.wait(5)  # it ends after the terminal state
    again.close()
    chunks = [json.loads(f.data)["artifactUpdate"]["artifact"]["parts"][0]["text"]
              for f in got + rest[:3]]
    assert chunks == [f"{n} " for n in range(6)]
    assert snapshot["artifacts"][0]["parts"][0]["text"] == "0 1 2 3 4 5 "
    assert json.loads(rest[3].data)["statusUpdate"]["status"]["state"] == \
        "TASK_STATE_COMPLETED"
    ids = [int(f.id.rsplit(":", 1)[1]) for f in got + rest]
    assert ids == list(range(1, 8))
    polled = httpx.get(f"{stack.base_url}{BASE}/sse-1/messages?after=0",
                       headers=stack.user_headers).json()["messages"]
    assert [m["sequence"] for m in polled] == ids


@pytest.mark.parametrize("case, status", [("none", 401), ("login jwt", 401),
                                          ("other task", 403), ("garbage", 401)])
def test_stream__refused_tokens_over_http(stack, case, status):
    create(stack, f"refuse-{case.replace(' ', '-')}")
    task_id = f"refuse-{case.replace(' ', '-')}"
    if case == "other task":
        create(stack, f"{task_id}-other")
    if case == "other task":
        value = token(stack, f"{task_id}-other")
    else:
        value = {"none": "", "login jwt": stack.user_headers["Authorization"].split()[1],
                 "garbage": "x.y.z"}[case]
    response = httpx.get(f"{stack.base_url}{BASE}/{task_id}/stream?token={value}")
    assert response.status_code == status and "error" in response.json()


def test_stream_tokens__never_in_the_logs(stack):
    create(stack, "log-1")
    secret = token(stack, "log-1")
    with httpx.stream("GET", f"{stack.base_url}{BASE}/log-1/stream?token={secret}") as r:
        assert r.status_code == 200
    httpx.get(f"{stack.base_url}{BASE}/log-1/stream?token={secret}x")
    logs = stack.logs()
    assert "/log-1/stream" in logs  # the requests were logged
    assert secret not in logs and secret[:40] not in logs


def test_prune__expired_messages_gone_after_beat_runs_it_under_a_real_worker(tmp_path):
    """Messages that expire at once (TTL 0) are never polled, and a real worker with beat
    (every 2 s here; 15 minutes by default) deletes them."""
    with LiveStack(tmp_path / "var", extra_env={"TASK_MESSAGE_TTL_MINUTES": "0",
                                                "TASK_PRUNE_SECONDS": "2"}).running() as live:
        user = httpx.post(f"{live.base_url}/api/auth/token", json={
            "username": "admin", "password": live.credentials["password"]}).json()["access"]
        agent = live.manage("create_api_key", "acme", "--scope", "agent").strip() \
            .splitlines()[-1]
        httpx.post(f"{live.base_url}{BASE}/", json={"id": "ttl-1"},
                   headers={"Authorization": f"Bearer {user}"}).raise_for_status()
        for n in range(3):
            httpx.post(f"{live.base_url}{BASE}/ttl-1/messages", json={"kind": "chunk"},
                       headers={"Authorization": f"Bearer {agent}"}).raise_for_status()
        count = ("from sessions_app.models import TaskMessage; "
                 "print('stored', TaskMessage.objects.count())")
        assert "stored 3" in live.manage("shell", "-c", count)
        polled = httpx.get(f"{live.base_url}{BASE}/ttl-1/messages",
                           headers={"Authorization": f"Bearer {user}"}).json()["messages"]
        assert polled == []
        log = live.start_worker()
        live.wait_for_log(log, "prune_task_messages", timeout=60)
        deadline = time.monotonic() + 30
        while "stored 0" not in live.manage("shell", "-c", count):
            assert time.monotonic() < deadline, live.logs()
            time.sleep(1)


def test_chromium__live_task_page__renews_its_token_and_resumes(tmp_path):
    """The page's token → EventSource → new token dance, with tokens that last 3 s: the output
    arrives whole, once, across several renewals."""
    from tests.browser import Browser, chromium_available

    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with LiveStack(tmp_path / "var", extra_env={"STREAM_TOKEN_TTL_SECONDS": "3",
                                                "STREAM_AUTH_RECHECK_SECONDS": "0.5"}) \
            .running() as live:
        user = httpx.post(f"{live.base_url}/api/auth/token", json={
            "username": "admin", "password": live.credentials["password"]}).json()["access"]
        agent = live.manage("create_api_key", "acme", "--scope", "agent").strip() \
            .splitlines()[-1]
        created = httpx.post(f"{live.base_url}{BASE}/", json={"id": "page-1"},
                             headers={"Authorization": f"Bearer {user}"})
        number = live.manage("shell", "-c", "from sessions_app.models import Task; "
                                            "print(Task.objects.get(task_id='page-1').pk)")
        assert created.status_code == 201
        browser = Browser(tmp_path / "chromium")

        def chunk(text, kind="chunk"):
            httpx.post(f"{live.base_url}{BASE}/page-1/messages", json={
                "kind": kind, "content": text}, headers={"Authorization": f"Bearer {agent}"}
            ).raise_for_status()

        async def scenario(page):
            await page.admin_login(live.base_url, live.credentials["password"])
            await page.load(f"{live.base_url}/live/tasks/{number.strip().splitlines()[-1]}/",
                            "document.getElementById('status').textContent === 'connected'")
            for n in range(8):  # about 8 s: two or three tokens expire meanwhile
                await asyncio.to_thread(chunk, f"{n} ")
                await asyncio.sleep(1)
            await asyncio.to_thread(chunk, "", "complete")
            await page.wait_for("document.getElementById('state').textContent === 'completed'",
                                timeout=20)
            output = await page.eval("document.getElementById('output').textContent")
            assert output == "".join(f"{n} " for n in range(8))

        try:
            browser.run(scenario)
        finally:
            browser.close()
        renewals = live.logs().count("/stream-token")
        assert renewals >= 3  # the page fetched new tokens as the old ones ran out
