"""Faults against real processes (issue 14, scope 3), on loopback and bounded in time: Redis
restarted and the server killed while a hundred SSE clients stream and a publisher writes.
Every client must end with every event exactly once, in order, ids contiguous — resuming with
Last-Event-ID as EventSource does."""

from __future__ import annotations

import signal
from contextlib import closing
import threading
import time

import httpx
import pytest

from tests.e2e.resuming_clients import ResumingClients, exactly_once_in_order
from tests.live import LiveStack, postgres_available, redis_available, stream_modes

pytestmark = pytest.mark.live

FLAG = "/api/v1/projects/demo/environments/development/flags/button-color/"


class Publisher:
    """Changes the demo flag over and over (each change carries its number in a rule) until
    stopped; remembers which changes the server acknowledged."""

    def __init__(self, stack: LiveStack, interval: float = 0.1):
        self.client = stack.api_client()
        self.interval = interval
        self.acknowledged: list[str] = []
        self.refused: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        n = 0
        while not self._stop.is_set():
            value = f"v{n}"
            rules = [{"constraints": [{"attribute": "n", "operator": "in", "values": [value]}],
                      "variant": "green"}]
            try:
                answer = self.client.patch(FLAG, json={"rules": rules}, timeout=10)
                if answer.status_code == 200:
                    self.acknowledged.append(value)
                else:
                    self.refused.append(answer.status_code)
            except httpx.HTTPError:
                self.refused.append(0)
            n += 1
            time.sleep(self.interval)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.close()
        return self.acknowledged


def check_every_client(clients: ResumingClients, acknowledged: list[str]) -> None:
    """Every client has the same events, each acknowledged change among them exactly once
    and in order, and their ids follow one another."""
    last = acknowledged[-1]

    def complete(events):
        return any(data["flag"]["rules"][0]["constraints"][0]["values"][0] == last
                   for _, data in events)

    assert clients.wait_for(complete, timeout=60), \
        f"{sum(not complete(e) for e in clients.received)} clients never got {last}"
    clients.close()
    reference = [data["flag"]["rules"][0]["constraints"][0]["values"][0]
                 for _, data in clients.received[0]]
    assert [v for v in reference if v in acknowledged] == acknowledged, reference
    problems = {n: exactly_once_in_order(events, reference)
                for n, events in enumerate(clients.received)}
    problems = {n: p for n, p in problems.items() if p}
    assert not problems, problems


def under_load_through(stack: LiveStack, fault, every_client_reconnects: bool = False) -> None:
    """A hundred resuming clients and the publisher, ``fault()`` two seconds in, three more
    seconds of writes after it; then every client is checked."""
    key = stack.credentials["keys"]["development"]["client"]
    clients = ResumingClients(f"{stack.base_url}/api/v1/events/stream",
                              {"X-API-Key": key}, count=100)
    clients.wait_open()
    publisher = Publisher(stack)
    time.sleep(2)
    fault()
    time.sleep(3)
    acknowledged = publisher.stop()
    assert len(acknowledged) >= 20, (acknowledged, publisher.refused)
    if every_client_reconnects:
        assert all(clients.reconnects), clients.reconnects  # each did lose its stream
    check_every_client(clients, acknowledged)


@pytest.mark.skipif(not redis_available(), reason="needs redis-server")
@pytest.mark.parametrize("mode", stream_modes())
def test_redis_restarted__100_clients_get_every_event_once(tmp_path, mode):
    stack = LiveStack(tmp_path, pushpin=mode == "pushpin")
    stack.start_redis()

    def restart_redis():
        redis_log = next(log for _, log in stack.processes if log.name == "redis.log")
        stack.stop_process(redis_log, signal.SIGKILL)
        time.sleep(2)  # the publisher writes on while Redis is away
        stack.start_redis()

    with stack.running():
        under_load_through(stack, restart_redis)


@pytest.mark.parametrize("mode", stream_modes())
def test_server_killed_and_restarted__clients_resume_with_nothing_lost(tmp_path, mode):
    """Directly, every client loses its stream and resumes (each reconnects); through
    Pushpin, the edges hold the streams across the origin's death and deliver what is
    published after it."""
    with LiveStack(tmp_path, pushpin=mode == "pushpin").running() as stack:
        def kill_server():
            server_log = next(log for _, log in stack.processes if log.name == "server.log")
            stack.stop_process(server_log, signal.SIGKILL)
            time.sleep(1)
            stack.start_server()  # the same port

        under_load_through(stack, kill_server, every_client_reconnects=mode == "direct")


class IngestLoad:
    """Agent CLIs sending ``message.created`` events from a few threads, each event resent
    (the same event) after a 503 or a network error until acknowledged, as the CLI does for
    5xx. Records every answer's status, its Retry-After, and how long it took."""

    def __init__(self, stack: LiveStack, key: str, threads: int = 4):
        self.url = f"{stack.base_url}/api/ingest"
        self.key = key
        self.acknowledged: set[str] = set()
        self.answers: list[tuple[int, str | None, float]] = []
        self.unexpected: list[tuple[int, str]] = []  # anything but 200/201, 503, no answer
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, n: int):
        from datetime import datetime, timezone

        client = httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
        number = 0
        while not self._stop.is_set():
            message_id = f"m-{n}-{number}"
            event = {"type": "message.created",
                     "timestamp": datetime.now(timezone.utc).isoformat(),
                     "data": {"conversation_id": f"fault-{n}", "message_id": message_id,
                              "agent_id": "a", "agent_type": "claude", "content": message_id,
                              "sequence_number": number}}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    answer = client.post(self.url, json=event)
                    status, retry = answer.status_code, answer.headers.get("retry-after")
                except httpx.HTTPError:
                    status, retry = 0, None
                with self._lock:
                    self.answers.append((status, retry, time.monotonic() - started))
                if status in (200, 201):
                    with self._lock:
                        self.acknowledged.add(message_id)
                    break
                if status != 503 and status != 0:
                    with self._lock:
                        self.unexpected.append((status, answer.text[:200]))
                time.sleep(0.3)
            number += 1
        client.close()

    def stop(self) -> set[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        return self.acknowledged


@pytest.mark.skipif(not postgres_available(), reason="needs Debian's postgresql")
def test_postgres_restarted_under_ingest__acknowledged_stored_once__503_meanwhile(tmp_path):
    import psycopg

    stack = LiveStack(tmp_path, extra_env={"INGEST_RATE_LIMIT_PER_MINUTE": "0"})
    stack.start_postgres()
    with stack.running():
        load = IngestLoad(stack, stack.credentials["apiKey"])
        time.sleep(3)
        postgres_log = next(log for _, log in stack.processes if log.name == "postgres.log")
        stack.stop_process(postgres_log, signal.SIGINT)  # a fast shutdown: clients cut off
        time.sleep(3)
        stack.start_postgres()
        time.sleep(4)
        acknowledged = load.stop()
        with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
            stored = [row[0] for row in conn.execute(
                "SELECT client_id FROM sessions_app_message WHERE client_id LIKE 'm-%'")]
    unavailable = [(status, retry) for status, retry, _ in load.answers if status == 503]
    assert not load.unexpected, load.unexpected[:5]
    assert unavailable, "no request met the outage"
    assert all(retry and int(retry) >= 1 for _, retry in unavailable)
    assert max(seconds for _, _, seconds in load.answers) < 15  # refused, not hung
    assert len(acknowledged) >= 50
    assert set(stored) >= acknowledged  # nothing acknowledged is missing
    assert len(stored) == len(set(stored))  # nothing stored twice


# The flags are made first and the time is taken after: one due time for the whole batch, far
# enough ahead for the scheduling alone on a loaded machine (it printed the slack left).
SCHEDULE_MANY = """
from datetime import timedelta
from django.utils import timezone
from flags import services
from flags.audit import Actor
from flags.models import Project
from flags.scheduling import scheduled_change_create
actor = Actor(source="command", label="fault test")
project = Project.objects.get(key="demo")
states = [services.flag_create(project=project, key=f"killed-{{n}}", actor=actor)
          .states.get(environment__key="development") for n in range({count})]
at = timezone.now() + timedelta(seconds={delay})
for state in states:
    scheduled_change_create(state=state, change_type="enable", scheduled_at=at, payload={{}},
                            actor=actor)
print((at - timezone.now()).total_seconds())
"""


def database_query(stack: LiveStack, sql: str):
    url = stack.env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()
    import sqlite3

    with closing(sqlite3.connect(stack.var_dir / "flagstream.sqlite3", timeout=20)) as conn:
        return conn.execute(sql).fetchall()


def worker_killed_mid_way(stack: LiveStack, progress, total: int, poll: float) -> None:
    """Start a worker (with beat); SIGKILL it once ``progress()`` has moved but not reached
    ``total`` (asserted: else the kill proved nothing); start another, and return once
    ``progress()`` reaches ``total``."""
    first = stack.start_worker(name="worker1")
    deadline = time.monotonic() + 60
    while (done := progress()) == 0:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(poll)
    stack.stop_process(first, signal.SIGKILL)
    assert done < total, "the worker finished before it could be killed"
    stack.start_worker(name="worker2")
    deadline = time.monotonic() + 90
    while progress() < total:
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.5)


def test_worker_killed_mid_batch_of_scheduled_changes__each_applied_once(tmp_path):
    """A worker (with its beat) is SIGKILLed while it works through 150 due changes; a new
    worker started after it applies the rest: every change applied, none twice."""
    count = 150
    with LiveStack(tmp_path).running() as stack:
        stack.manage("shell", "-c", SCHEDULE_MANY.format(count=count, delay=10))
        applied = "SELECT count(*) FROM flags_scheduledchange WHERE status = 'applied'"
        worker_killed_mid_way(stack, lambda: database_query(stack, applied)[0][0], count,
                              poll=0.05)
        with closing(stack.api_client()) as api:
            for n in range(count):
                flag = f"killed-{n}"
                state = api.get(f"/api/v1/projects/demo/environments/development/flags/"
                                f"{flag}/").json()
                assert state["enabled"] is True and state["version"] == 2, (flag, state)
                audit = api.get(f"/api/v1/projects/demo/flags/{flag}/audit/").json()["results"]
                assert sum(1 for entry in audit if entry["source"] == "scheduler") == 1, flag


def test_worker_killed_mid_rollup__every_evaluation_counted_once(tmp_path):
    """Beat's analytics rollup, one payload per transaction (ANALYTICS_ROLLUP_CHUNK=1), is
    SIGKILLed part way through 500 batches; the next worker's run carries on from the cursor:
    every evaluation counted, none twice, every context once."""
    batches, per_batch = 500, 4
    env = {"ANALYTICS_ROLLUP_SECONDS": "1", "ANALYTICS_ROLLUP_SETTLE_SECONDS": "0",
           "ANALYTICS_ROLLUP_CHUNK": "1", "ANALYTICS_RATE_LIMIT_PER_MINUTE": "0"}
    with LiveStack(tmp_path, extra_env=env).running() as stack:
        key = stack.credentials["keys"]["development"]["client"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with httpx.Client(base_url=stack.base_url, timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as sdk:
            for n in range(batches):
                body = {"evaluations": [{"flagKey": "new-checkout", "variant": "on",
                                         "reason": "TARGETING_MATCH", "contextId": f"u{n}-{m}",
                                         "timestamp": now} for m in range(per_batch)]}
                sent = sdk.post("/api/sdk/events", json=body, headers={"X-Payload-Id": f"p{n}"})
                assert sent.status_code == 202, sent.text
        high = database_query(stack, "SELECT max(id) FROM analytics_ingestpayload")[0][0]
        cursor = "SELECT last_id FROM analytics_rollupcursor WHERE name = 'payloads'"

        def counted_up_to() -> int:
            rows = database_query(stack, cursor)
            return rows[0][0] if rows else 0

        worker_killed_mid_way(stack, counted_up_to, high, poll=0.02)
        evaluations = database_query(
            stack, "SELECT sum(evaluations) FROM analytics_evaluationrollup "
                   "WHERE flag_key = 'new-checkout'")[0][0]
        assert evaluations == batches * per_batch
        contexts = database_query(
            stack, "SELECT contexts FROM analytics_contextcount WHERE span = 'h' "
                   "AND subject = 'new-checkout' AND variant = 'on'")
        assert sum(row[0] for row in contexts) == batches * per_batch
