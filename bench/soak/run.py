"""Soak (issue 14, scope 5): mixed load on the whole system for a long time, and the memory,
open files and database connections of every process at the start and at the end.

The stack is what `make run` starts — the server (two processes, one per core of this box),
a Celery worker with beat — plus, when nats-server is installed, the NATS bridge. For
``--minutes`` (30 by default) these loops run, each bounded in rate:
  * 40 SSE clients on the SDK and events streams, each connecting, staying 1–10 s and
    dropping, half of them resuming with Last-Event-ID;
  * a flag change every 0.5 s (the streams' events);
  * an agent conversation every 2 s (started, 20 messages at once, completed);
  * SDK analytics: 50 evaluations and 5 custom events a second;
  * an agent-to-agent task every 3 s (created, 5 messages, completed);
  * company live updates (20 a second, through NATS when the bridge runs).
Figures are taken after a minute of warm-up and then every minute; the table compares the
first with the last. Growth beyond noise fails the run (exit 1): memory more than 15 % and
30 MB, open files more than 10, database connections more than 2.

Run: make soak [MINUTES=30]     (embedded: SQLite; with DATABASE_URL/REDIS_URL: PostgreSQL)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.live import LiveStack, nats_available  # noqa: E402

FLAG = "/api/v1/projects/demo/environments/development/flags/button-color/"


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Load:
    def __init__(self, stack: LiveStack, deadline: float):
        self.stack, self.deadline = stack, deadline
        self.url = stack.base_url
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        creds = stack.credentials
        self.client_key = creds["keys"]["development"]["client"]
        self.server_key = creds["keys"]["development"]["server"]
        self.api_key = creds["apiKey"]
        self.password = creds["password"]

    def count(self, what: str, response: httpx.Response | None) -> None:
        with self.lock:
            if response is None or response.status_code >= 500:
                self.errors[what] = self.errors.get(what, 0) + 1
            else:
                self.counts[what] = self.counts.get(what, 0) + 1

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def every(self, seconds: float, name: str, work) -> None:
        def loop():
            with httpx.Client(base_url=self.url, timeout=30) as client:
                while self.running():
                    started = time.monotonic()
                    try:
                        work(client)
                    except httpx.HTTPError:
                        self.count(name, None)
                    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    # --- the loops --------------------------------------------------------------------

    def stream_client(self, n: int) -> None:
        path = "/api/sdk/stream" if n % 2 else "/api/v1/events/stream"
        last = None
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(10, read=30)) as client:
            while self.running():
                headers = {"X-API-Key": self.client_key}
                if last and n % 4 < 2:
                    headers["Last-Event-ID"] = last
                stay = time.monotonic() + random.uniform(1, 10)
                try:
                    with client.stream("GET", path, headers=headers) as response:
                        self.count("stream connections", response)
                        for line in response.iter_lines():
                            if line.startswith("id:"):
                                last = line[3:].strip()
                            if time.monotonic() > stay or not self.running():
                                break
                except httpx.HTTPError:
                    self.count("stream connections", None)
                time.sleep(random.uniform(0, 0.5))

    def start(self) -> None:
        admin = httpx.post(f"{self.url}/api/auth/token", json={
            "username": "admin", "password": self.password}).json()["access"]
        bearer = {"Authorization": f"Bearer {admin}"}
        agent_key = self.stack.manage("create_api_key", "acme", "--scope", "agent",
                                      "--scope", "publish").strip().splitlines()[-1]
        self.stack.remember(admin, agent_key)
        turn = iter(range(10**9))

        def flag_change(client):
            n = next(turn)
            rules = [{"constraints": [{"attribute": "n", "operator": "in",
                                       "values": [str(n % 50)]}], "variant": "green"}]
            self.count("flag changes", client.patch(FLAG, json={"rules": rules},
                                                     headers=bearer))

        def conversation(client):
            cid = f"soak-{uuid.uuid4().hex[:12]}"
            key = {"Authorization": f"Bearer {self.api_key}"}
            events = [{"type": "conversation.started", "timestamp": now(), "data": {
                "conversation_id": cid, "mode": "debate", "initial_prompt": "soak",
                "participants": [{"agent_id": "a", "agent_type": "claude"}],
                "system_info": {}}}]
            events += [{"type": "message.created", "timestamp": now(), "data": {
                "conversation_id": cid, "message_id": f"{cid}-{m}", "agent_id": "a",
                "agent_type": "claude", "content": "x" * 200, "sequence_number": m}}
                for m in range(20)]
            events.append({"type": "conversation.completed", "timestamp": now(), "data": {
                "conversation_id": cid, "status": "completed"}})
            for event in events:
                self.count("ingest events", client.post("/api/ingest", json=event,
                                                        headers=key))

        def analytics(client):
            body = {"evaluations": [{"flagKey": "button-color", "variant": "green",
                                     "contextId": f"u{random.randrange(1000)}",
                                     "timestamp": now()} for _ in range(50)],
                    "events": [{"name": "checkout", "contextId": f"u{n}", "value": 1,
                                "timestamp": now()} for n in range(5)]}
            self.count("analytics batches", client.post(
                "/api/sdk/events", json=body, headers={"X-API-Key": self.server_key}))

        def task(client):
            key = {"Authorization": f"Bearer {agent_key}"}
            base = "/agent-to-agent/acme/soak-agent/tasks"
            created = client.post(f"{base}/", json={}, headers=key)
            self.count("tasks", created)
            if created.status_code != 201:
                return
            task_id = created.json()["id"]
            for m in range(5):
                self.count("task messages", client.post(
                    f"{base}/{task_id}/messages/", headers=key,
                    json={"kind": "progress", "content": f"step {m}", "progress": m * 20}))
            self.count("task messages", client.post(
                f"{base}/{task_id}/messages/", headers=key,
                json={"kind": "complete", "content": "done"}))

        def company(client):
            key = {"Authorization": f"Bearer {agent_key}"}
            self.count("company updates", client.post("/stream/publish", headers=key, json={
                "events": [{"companyId": "acme", "type": "metric_updated",
                            "data": {"metricName": "nps", "value": n}} for n in range(20)]}))

        for n in range(40):
            thread = threading.Thread(target=self.stream_client, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)
        self.every(0.5, "flag changes", flag_change)
        self.every(2.0, "ingest events", conversation)
        self.every(1.0, "analytics batches", analytics)
        self.every(3.0, "tasks", task)
        self.every(1.0, "company updates", company)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)


# --- measuring -------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def figures(pid: int, database: str) -> dict | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    rss = next(int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmRSS:")) * 1024
    sqlite = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(database):
                sqlite += 1
        except OSError:
            pass
    threads = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("Threads:"))
    return {"command": command, "rss": rss, "fds": len(fds), "sqlite": sqlite,
            "threads": threads}


def snapshot(stack: LiveStack) -> dict[str, dict]:
    """Figures per process of the stack (by role and pid), and the database's connections."""
    database = "flagstream.sqlite3"
    taken = {}
    for process, log in stack.processes:
        if process is None or process.poll() is not None:
            continue
        for pid in descendants(process.pid):
            data = figures(pid, database)
            if data is None or "python" not in data["command"] and "celery" not in \
                    data["command"]:
                continue
            taken[f"{log.stem} {pid}"] = data
    url = stack.env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as conn:
            name = url.rsplit("/", 1)[1]
            count = conn.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = %s",
                                 (name,)).fetchone()[0]
        taken["database"] = {"connections": count}
    else:
        taken["database"] = {"connections": sum(d.get("sqlite", 0) for d in taken.values())}
    return taken


def report(first: dict, last: dict, out=sys.stdout) -> bool:
    ok = True
    print(f"\n{'process':<24} {'RSS MB start':>12} {'end':>7} {'fds start':>10} {'end':>5} "
          f"{'threads':>8} {'end':>5}  verdict", file=out)
    for name in sorted(set(first) - {"database"}):
        a, b = first[name], last.get(name)
        if b is None:
            print(f"{name:<24} gone by the end (restarted?)", file=out)
            ok = False
            continue
        grown = b["rss"] - a["rss"]
        leak = (grown > 30 * 2**20 and grown > 0.15 * a["rss"]) or b["fds"] - a["fds"] > 10
        ok &= not leak
        print(f"{name:<24} {a['rss'] / 2**20:>12.0f} {b['rss'] / 2**20:>7.0f} {a['fds']:>10} "
              f"{b['fds']:>5} {a['threads']:>8} {b['threads']:>5}  "
              f"{'GROWS' if leak else 'flat'}", file=out)
    a, b = first["database"]["connections"], last["database"]["connections"]
    grows = b - a > 2
    ok &= not grows
    print(f"{'database connections':<24} {a:>12} {b:>7}  {'GROWS' if grows else 'flat'}",
          file=out)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "SQLite (embedded)"
    print(f"soak: {args.minutes:g} minutes of mixed load; {database}; Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="flagstream-soak-") as var:
        stack = LiveStack(Path(var), server_args=("--processes", "2"), extra_env={
            "INGEST_RATE_LIMIT_PER_MINUTE": "0", "SDK_RATE_LIMIT_PER_MINUTE": "0",
            "API_RATE_LIMIT_PER_MINUTE": "0"})
        if nats_available():
            stack.start_nats()
        with stack.running():
            stack.start_worker()
            if nats_available():
                stack.spawn("bridge", sys.executable, "manage.py", "nats_bridge")
            load = Load(stack, time.monotonic() + args.minutes * 60)
            load.start()
            time.sleep(min(60, args.minutes * 60 / 4))  # warm-up
            first = snapshot(stack)
            samples = [first]
            while load.running():
                time.sleep(max(0.0, min(60, load.deadline - time.monotonic())))
                samples.append(snapshot(stack))
                rss = sum(p.get("rss", 0) for p in samples[-1].values()) / 2**20
                print(f"  minute {len(samples) - 1:>3}: {rss:.0f} MB in all, "
                      f"{sum(load.counts.values()):,} requests, "
                      f"{sum(load.errors.values())} errors", flush=True)
            load.join()
            last = snapshot(stack)
    print("\nrequests:", ", ".join(f"{k} {v:,}" for k, v in sorted(load.counts.items())))
    print("5xx or failed:", ", ".join(f"{k} {v}" for k, v in sorted(load.errors.items()))
          or "none")
    ok = report(first, last) and not load.errors
    print(f"\nverdict: {'no growth beyond noise' if ok else 'GROWTH or errors: see above'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
