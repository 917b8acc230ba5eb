"""The streams, fuzzed: what schemathesis cannot do, since a stream that answers 200 never ends
and it reads whole bodies. For every stream path of the OpenAPI schema, hypothesis draws the
documented query parameters, ``Last-Event-ID`` (header) and ``?lastEventId=``, the path's
parameters and the credential — each from organization A's real values and credentials, from
near misses, or junk — and opens the stream with httpx, reading only the head of the answer
and the first frame. Checks, per answer:

- no 5xx;
- 200 only as ``text/event-stream`` whose first frame arrives;
- any other status one the schema documents for that path, with a JSON ``{error, detail}``
  body.
"""

from __future__ import annotations

import json
import string

import httpx
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st

SAFE = string.ascii_letters + string.digits + "-_:~"  # no dots: httpx would resolve ".."
# What a header may carry (no controls); query values may carry anything, NUL included.
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=60)
QUERY_TEXT = st.text(max_size=60)
EVENT_IDS = st.one_of(
    st.from_regex(r"\A[a-z_:-]{0,24}:-?[0-9]{0,22}\Z"),  # <channel>:<n>, near misses
    st.from_regex(r"\A-?[0-9]{1,25}\Z"),
    HEADER_TEXT)


def real_values(world: dict) -> dict[str, list[str]]:
    """Per parameter name, organization A's real values (and B's, for other-tenant cases)."""
    a, b = world["a"], world["b"]
    tokens = [value for name, value in a["tokens"].items() if isinstance(value, str)]
    return {
        "sdkKey": [a["sdk"]["dev-client"], a["sdk"]["prod-client"], a["sdk"]["revoked-client"],
                   b["sdk"]["dev-client"]],
        "token": tokens + [b["tokens"]["task"], b["tokens"]["company"]],
        "conversationId": ["1", "c-1", "0", "-1", "99999999999999999999"],
        "organization": [a["slug"], b["slug"]],
        "companyId": [a["slug"], b["slug"]],
        "flags": [a["flag"], f"{a['flag']},other", ""],
        "tags": ["", "a,b"],
        "org": [a["slug"], b["slug"]],
        "agent": [a["agent"]],
        "task": [a["task"], a["other_task"], b["task"]],
    }


def authorizations(world: dict) -> list[str]:
    a, b = world["a"], world["b"]
    secrets = [*a["sdk"].values(), *a["api"].values(), *a["tokens"]["user"].values(),
               b["sdk"]["dev-server"], b["api"]["read"]]
    return [f"Bearer {secret}" for secret in secrets] + [f"Bearer {a['sdk']['dev-server']}x",
                                                         "Bearer", "Basic Zm9vOmJhcg=="]


def opening_requests(world: dict) -> dict[str, tuple[str, dict, dict]]:
    """Per stream path, a request that opens it with A's right credential: the first example
    of each stream's fuzz, and (its credential left out) the second, so that every run both
    opens each stream and is refused by it."""
    a = world["a"]
    task = f"/agent-to-agent/{a['slug']}/{a['agent']}/tasks/{a['task']}"
    server = {"Authorization": f"Bearer {a['sdk']['dev-server']}"}
    return {
        "/api/sdk/stream": ("/api/sdk/stream", {}, server),
        "/api/v1/events/stream": ("/api/v1/events/stream", {}, server),
        "/ofrep/v1/stream": ("/ofrep/v1/stream", {"token": a["tokens"]["ofrep"]}, {}),
        "/api/realtime/stream": ("/api/realtime/stream", {},
                                 {"Authorization": f"Bearer {a['api']['read']}"}),
        "/agent-to-agent/{org}/{agent}/tasks/{task}/stream": (
            f"{task}/stream", {"token": a["tokens"]["task"]}, {}),
        "/agent-to-agent/{org}/{agent}/tasks/{task}:subscribe": (
            f"{task}:subscribe", {"token": a["tokens"]["task"]}, {}),
        "/stream/updates": ("/stream/updates", {"companyId": a["slug"],
                                                "token": a["tokens"]["company"]}, {}),
    }


def without_credential(request: tuple[str, dict, dict]) -> tuple[str, dict, dict]:
    url, query, headers = request
    return (url, {k: v for k, v in query.items() if k != "token"},
            {k: v for k, v in headers.items() if k != "Authorization"})


def stream_operations(schema: dict) -> list[tuple[str, dict]]:
    chosen = []
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if operation and "text/event-stream" in \
                operation["responses"].get("200", {}).get("content", {}):
            chosen.append((path, operation))
    return chosen


def request_strategy(path: str, operation: dict, world: dict):
    """A strategy of ``(url path, query, headers)`` for one stream operation."""
    values = real_values(world)

    def value_of(name: str, where: str):
        real = st.sampled_from(values[name]) if values.get(name) else st.nothing()
        junk = HEADER_TEXT if where == "header" else (
            st.text(alphabet=SAFE, min_size=1, max_size=40) if where == "path" else QUERY_TEXT)
        if name in ("Last-Event-ID", "lastEventId"):
            junk = EVENT_IDS if where == "header" else st.one_of(EVENT_IDS, QUERY_TEXT)
        return st.one_of(real, junk)

    parts = {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        drawn = value_of(name, where)
        parts[(name, where)] = drawn if where == "path" else st.one_of(st.none(), drawn)
    parts[("Authorization", "header")] = st.one_of(
        st.none(), st.sampled_from(authorizations(world)), HEADER_TEXT)

    @st.composite
    def requests(draw):
        url, query, headers = path, {}, {}
        for (name, where), strategy in parts.items():
            value = draw(strategy)
            if value is None:
                continue
            if where == "path":
                url = url.replace("{" + name + "}", value)
            elif where == "query":
                query[name] = value
            else:
                headers[name] = value
        return url, query, headers
    return requests()


def check_answer(client: httpx.Client, documented: set[str], url: str, query: dict,
                 headers: dict) -> int:
    """Open the stream, check its answer; its status."""
    with client.stream("GET", url, params=query, headers=headers) as response:
        where = f"GET {url} {query} {list(headers)} → {response.status_code}"
        assert response.status_code < 500, where
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("text/event-stream"), where
            first = next(response.iter_bytes(), b"")
            assert first, f"{where}: no first frame"
            return 200
        assert str(response.status_code) in documented, f"{where}: not documented"
        body = json.loads(response.read())
        assert {"error", "detail"} <= set(body), f"{where}: {body}"
        return response.status_code


def fuzz_streams(base_url: str, world: dict, examples: int, seed_value: int) -> list[dict]:
    """Fuzz every stream; one row per stream path: ``{path, cases, statuses}``. Raises
    AssertionError (with the drawn request) at the first failure."""
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0)) as client:
        schema = client.get("/api/schema/", params={"format": "json"}).json()
        rows = []
        openings = opening_requests(world)
        for path, operation in stream_operations(schema):
            documented = set(operation["responses"])
            statuses: dict[int, int] = {}
            opening = openings[path]  # a new stream kind needs its row above

            @example(without_credential(opening))
            @example(opening)
            @seed(seed_value)
            @settings(max_examples=examples, deadline=None, database=None,
                      phases=(Phase.explicit, Phase.generate),
                      suppress_health_check=list(HealthCheck))
            @given(request_strategy(path, operation, world))
            def one(drawn):
                status = check_answer(client, documented, *drawn)
                statuses[status] = statuses.get(status, 0) + 1

            one()
            rows.append({"path": path, "cases": sum(statuses.values()),
                         "statuses": dict(sorted(statuses.items()))})
        return rows


def statuses_text(statuses: dict) -> str:
    return ", ".join(f"{status}×{count}" for status, count in statuses.items())


def stream_table(rows: list[dict]) -> str:
    width = max(len(row["path"]) for row in rows)
    lines = [f"{'stream':<{width}}  cases  statuses"]
    lines += [f"{row['path']:<{width}}  {row['cases']:>5}  {statuses_text(row['statuses'])}"
              for row in rows]
    return "\n".join(lines)
