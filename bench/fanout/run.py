"""Fan-out benchmark: N SSE clients on one environment, flag changes made through the API.

For each N it starts a fresh server, connects N streams (at most 200 connects in flight; 2 x 45
through Pushpin, whose internal queues hold 100), reads the server's RSS, threads and database
file handles from /proc, then changes a flag with one PATCH, ``--rounds`` times, and records
when each client sees each change and how much CPU each process spent meanwhile. Side by side,
in the same run:

* flagstream — `manage.py serve` (the hub-backed streams), embedded mode, one process, and
               `serve --processes N` (procs column) up to 30,000 streams;
* baseline   — a minimal django-eventstream view (`include(django_eventstream.urls)`) under
               plain daphne, the library's stock storage, same database, same change;
* pushpin    — flagstream behind one Pushpin and behind two (the procs column: edges), the
               clients spread over them as a TCP balancer would, when pushpin is installed.

µs/stream: the server's CPU per stream per event — CPU of every server process during a
delivery, less what the same change costs with no stream open, over the streams it reached
(median of the rounds); per process in the note under the row.

Run: make bench-fanout     (or .venv/bin/python bench/fanout/run.py --sizes 1000,5000,10000)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.live import PUSHPIN_CONF, free_port  # noqa: E402  (the same Pushpin set-up as the tests)

PY = sys.executable


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> list[str]:
    """What a process's file descriptors point at (a path, or "socket:[…]" and the like)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return targets


def db_handles(pid: int, db_file: Path) -> int:
    """Open SQLite connections of a process: file descriptors on the database file itself."""
    return open_files(pid).count(str(db_file))


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        for child in map(int, children):
            out.append(child)
            todo.append(child)
    return out


class Environment:
    """A fresh var dir with the demo data, shared by the servers of one run."""

    def __init__(self, backends: dict | None = None):
        """``backends``: DATABASE_URL / REDIS_URL to run on (default: the embedded mode)."""
        self.var = Path(tempfile.mkdtemp(prefix="flagstream-bench-"))
        self.env = {**os.environ, "FLAGSTREAM_VAR_DIR": str(self.var), "PYTHONUNBUFFERED": "1",
                    "SDK_RATE_LIMIT_PER_MINUTE": "0", "API_RATE_LIMIT_PER_MINUTE": "0",
                    "LOG_LEVEL": "WARNING",
                    "STREAM_HEARTBEAT_SECONDS": "15"}
        for name in ("DATABASE_URL", "REDIS_URL", "GRIP_URL"):
            self.env.pop(name, None)
        self.env.update(backends or {})
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("bootstrap_demo")
        credentials = json.loads((self.var / "demo-credentials.json").read_text())
        self.password = credentials["password"]
        self.key = credentials["keys"]["development"]["server"]
        self.db_file = self.var / "flagstream.sqlite3"
        self.flip = 0

    def manage(self, *args):
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def environment_id(self) -> int:
        out = subprocess.run([PY, "manage.py", "shell", "-c",
                              "from flags.models import Environment;"
                              "print(Environment.objects.get(key='development').id)"],
                             cwd=ROOT, env=self.env, check=True, capture_output=True, text=True)
        return int(out.stdout.strip().splitlines()[-1])


class Server:
    def __init__(self, kind: str, bench: Environment, port: int, extra_env=None,
                 processes: int = 1):
        self.kind, self.port, self.bench, self.processes = kind, port, bench, processes
        env = {**bench.env, **(extra_env or {})}
        log = open(bench.var / f"{kind}-{port}.log", "w")
        if kind == "baseline":
            env["DJANGO_SETTINGS_MODULE"] = "bench.fanout.baseline_settings"
            argv = [str(Path(PY).parent / "daphne"), "-v", "0", "-b", "127.0.0.1", "-p",
                    str(port), "bench.fanout.baseline_asgi:application"]
        else:
            argv = [PY, "manage.py", "serve", "--no-access-log", "--port", str(port),
                    "--processes", str(processes)]
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{port}/")
        # Warm up: one API request and one stream, so imports and caches are done.
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        token = self.api.post("/api/auth/token", json={"username": "admin",
                                                       "password": bench.password}).json()
        self.api.headers["Authorization"] = f"Bearer {token['access']}"
        self.api.get("/api/v1/projects/demo/flags/").raise_for_status()

    @property
    def pid(self):
        return self.process.pid

    def pids(self) -> list[int]:
        """The processes that serve: the one, or with --processes the workers (the
        supervisor only watches them)."""
        return descendants(self.pid) if self.processes != 1 else [self.pid]

    def fixed_cpu(self, changes: int = 3) -> float:
        """CPU seconds the server spends on one change with no stream open (median): the
        PATCH, the write, publishing. What a delivery costs beyond it is the fan-out."""
        costs = []
        for _ in range(changes):
            before = sum(cpu_seconds(pid) for pid in self.pids())
            self.change()
            time.sleep(0.5)  # let the hub's poll pick it up
            costs.append(sum(cpu_seconds(pid) for pid in self.pids()) - before)
        return statistics.median(costs)

    def change(self) -> float:
        """Make one flag change through the API; the wall-clock time just before it."""
        self.bench.flip += 1
        variant = ["red", "green", "blue"][self.bench.flip % 3]
        t0 = time.time()
        self.api.patch("/api/v1/projects/demo/environments/development/flags/button-color/",
                       json={"offVariant": variant}).raise_for_status()
        return t0

    def stop(self):
        self.api.close()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_http(url: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


class Pushpin:
    def __init__(self, bench: Environment, origin_port: int, name: str = "pushpin"):
        root = bench.var / name
        (root / "run").mkdir(parents=True, exist_ok=True)
        (root / "log").mkdir(exist_ok=True)
        self.port, publish_port = free_port(), free_port()
        key = os.urandom(24).hex()
        (root / "routes").write_text(f"* 127.0.0.1:{origin_port}\n")
        (root / "pushpin.conf").write_text(PUSHPIN_CONF.format(
            root=root, port=self.port, publish_port=publish_port, key=key,
            # Warnings only: at info level its four processes log every request they pass on.
            log_level=1))
        self.grip_url = f"http://127.0.0.1:{publish_port}?iss=pushpin&key={key}"
        self.process = subprocess.Popen(
            ["pushpin", "--config", str(root / "pushpin.conf")], stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/")

    def rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in descendants(self.process.pid))

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(15)


def socket_count(pid: int) -> int:
    return sum(target.startswith("socket:") for target in open_files(pid))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process so far, to the nanosecond: the sum of its threads' schedstat
    (clock ticks of /proc/<pid>/stat are 10 ms, too coarse for one delivery). A thread that
    ended meanwhile is missed; the servers' threads live as long as they do."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def process_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def run_clients(ports, path, headers, count, ready, marker, shards, connect_budget,
                concurrency):
    """``shards`` client processes, shard i on ``ports[i % len(ports)]`` from 127.0.0.(10+i)."""
    per = [count // shards + (1 if i < count % shards else 0) for i in range(shards)]
    procs = []
    for index, n in enumerate(per):
        port = ports[index % len(ports)]
        argv = [PY, str(Path(__file__).parent / "clients.py"), "--port", str(port),
                "--source", f"127.0.0.{10 + index}",
                "--path", path, "--count", str(n), "--ready", ready, "--marker", marker,
                "--connect-budget", str(connect_budget), "--concurrency", str(concurrency)]
        for header in headers:
            argv += ["--header", header]
        procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True))
    return procs


def read_json(proc) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("a client shard died")
    return json.loads(line)


def scenario(name, bench, server, ports, path, headers, count, ready, marker, *,
             rss_of, server_pids, procs=1, shards=1, connect_budget=120, concurrency=200,
             helpers=None, rounds=1, fixed_cpu=0.0):
    """One row of the table. ``server_pids``: the processes that serve (CPU, threads, DB
    files, streams each holds). ``helpers``: other server-side processes (Pushpin's) whose CPU
    time during the delivery is reported with the server's and the clients' (pid -> name)."""
    helpers = helpers or {}
    rss_before = rss_of()
    pids = server_pids()
    sockets_before = {pid: socket_count(pid) for pid in pids}
    started = time.time()
    clients = run_clients(ports, path, headers, count, ready, marker, shards, connect_budget,
                          concurrency)
    reports = [read_json(p) for p in clients]
    connected = sum(r["connected"] for r in reports)
    failures: dict[str, int] = {}
    for report in reports:
        for why, n in report.get("reasons", {}).items():
            failures[why] = failures.get(why, 0) + n
    connect_seconds = max(r["seconds"] for r in reports) if reports else 0
    time.sleep(1)  # let the server settle before reading its memory
    rss_after = rss_of()
    row = {"name": name, "procs": procs, "n": count, "connected": connected,
           "connect_s": round(connect_seconds, 1),
           "connect_rate": round(connected / connect_seconds) if connect_seconds else 0,
           "rss_mb": round(rss_after / 1024),
           "kb_per_stream": round((rss_after - rss_before) / connected, 1) if connected else None,
           "threads": sum(threads(pid) for pid in pids),
           "db_files": sum(db_handles(pid, bench.db_file) for pid in pids),
           "retried": sum(r.get("retried", 0) for r in reports), "failures": failures}
    held = {pid: socket_count(pid) - sockets_before[pid] for pid in pids}
    latencies: list[float] = []
    per_round: list[dict] = []
    for _ in range(rounds if connected else 1):
        for p in clients:
            p.stdin.write("arm\n")
            p.stdin.flush()
        for p in clients:
            assert read_json(p).get("armed")
        watched = {**{pid: f"server{i}" if len(pids) > 1 else "server"
                      for i, pid in enumerate(pids)},
                   **helpers,
                   **{p.pid: f"client{i}" for i, p in enumerate(clients)}}
        cpu_before = {pid: cpu_seconds(pid) for pid in watched}
        t0 = server.change()
        results = [read_json(p) for p in clients]
        spent = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in watched}
        arrivals = [a - t0 for r in results for a in r["arrivals"]]
        latencies += arrivals
        # Through Pushpin the streams are its processes': they count as the server's.
        serving = list(pids) + list(helpers)
        serving_cpu = sum(spent[pid] for pid in serving)
        holding = {pid: held[pid] for pid in pids} if not helpers else \
            {pid: len(arrivals) // procs for pid in helpers}  # the clients split evenly
        per_round.append({
            "delivered": len(arrivals), "cpu": spent, "names": watched,
            "us_per_stream": (serving_cpu - fixed_cpu) / len(arrivals) * 1e6
            if arrivals else None,
            "us_by_process": {pid: spent[pid] / streams * 1e6
                              for pid, streams in holding.items() if streams > 0},
            "held": holding})
        time.sleep(0.3)
    for p in clients:
        try:
            p.stdin.write("done\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        p.wait(30)
    row["delivered"] = sum(r["delivered"] for r in per_round)
    row["rounds"] = len(per_round) if connected else 0
    if latencies:
        latencies.sort()
        row["p50_ms"] = round(statistics.median(latencies) * 1000)
        row["p99_ms"] = round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000)
        row["max_ms"] = round(latencies[-1] * 1000)
        middle = sorted(per_round, key=lambda r: r["us_per_stream"] or 0)[len(per_round) // 2]
        row["us_per_stream"] = round(middle["us_per_stream"], 1)
        row["delivery_cpu_s"] = {middle["names"][pid]: round(seconds, 2)
                                 for pid, seconds in middle["cpu"].items()}
        row["us_by_process"] = {middle["names"][pid]: round(us, 1)
                                for pid, us in middle["us_by_process"].items()}
        row["held"] = {middle["names"][pid]: n for pid, n in middle["held"].items()}
    row["wall_s"] = round(time.time() - started, 1)
    print_row(row)
    if row["retried"] or failures:
        print(f"{'':>11}  reopened after a 5xx: {row['retried']}; failed: {failures or 0}")
    if "delivery_cpu_s" in row:
        print(f"{'':>11}  CPU seconds during the median delivery: " + ", ".join(
            f"{name} {seconds}" for name, seconds in row["delivery_cpu_s"].items()))
        print(f"{'':>11}  streams held and CPU µs per stream per event, by serving process: " +
              ", ".join(f"{name} {row['held'][name]:,} / {row['us_by_process'].get(name, '-')}"
                        for name in row["held"]) +
              f" (the change itself, with no stream open: {fixed_cpu * 1000:.0f} ms)",
              flush=True)
    return row


COLUMNS = [("name", 11), ("procs", 6), ("n", 7), ("connected", 10), ("connect_s", 10),
           ("connect_rate", 13), ("rss_mb", 8), ("kb_per_stream", 14), ("threads", 8),
           ("db_files", 9), ("delivered", 10), ("p50_ms", 8), ("p99_ms", 8), ("max_ms", 8),
           ("us_per_stream", 14)]


def print_header():
    print("".join(name.rjust(width) for name, width in COLUMNS))


def print_row(row):
    print("".join(str(row.get(name, "-") if row.get(name) is not None else "-").rjust(width)
                  for name, width in COLUMNS), flush=True)


def sizes_of(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def flagstream_row(bench, auth, n, processes, rounds):
    port = free_port()
    server = Server("flagstream", bench, port, processes=processes)
    try:
        fixed = server.fixed_cpu()
        return scenario("flagstream", bench, server, [port], "/api/sdk/stream", auth, n,
                        "event: put", "event: flag_updated",
                        rss_of=lambda: sum(rss_kb(pid) for pid in server.pids()),
                        server_pids=server.pids, procs=processes,
                        # one client process per 15,000 streams (its own source address)
                        shards=max(1, -(-n // 15000)), rounds=rounds, fixed_cpu=fixed)
    finally:
        server.stop()


def pushpin_row(bench, auth, n, edges, rounds):
    port = free_port()
    pushpins = [Pushpin(bench, port, name=f"pushpin-{index}") for index in range(edges)]
    server = Server("flagstream", bench, port,
                    {"GRIP_URL": ",".join(pushpin.grip_url for pushpin in pushpins)})
    try:
        fixed = server.fixed_cpu()
        return scenario(
            "pushpin", bench, server, [pushpin.port for pushpin in pushpins],
            "/api/sdk/stream", auth, n, "event: put", "event: flag_updated",
            rss_of=lambda: sum(pushpin.rss_kb() for pushpin in pushpins),
            server_pids=server.pids, procs=edges, shards=2,
            # Pushpin 1.36's proxy has fixed queues of 100 towards zurl and its handler;
            # more connects in flight than that are answered 500/502. Two shards of 45 either
            # way: with two edges, one shard on each.
            concurrency=45,
            helpers={pid: f"{'' if edges == 1 else f'edge{index + 1} '}{process_name(pid)}"
                     for index, pushpin in enumerate(pushpins)
                     for pid in descendants(pushpin.process.pid)},
            rounds=rounds, fixed_cpu=fixed)
    finally:
        server.stop()
        for pushpin in pushpins:
            pushpin.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="SSE fan-out benchmark")
    parser.add_argument("--sizes", default="1000,5000,10000", help="streams on one process")
    parser.add_argument("--processes", type=int, default=2,
                        help="server processes for the multi-process rows (0: none)")
    parser.add_argument("--process-sizes", default="10000,30000",
                        help="stream counts on --processes processes")
    parser.add_argument("--baseline-sizes", default="1000,5000,10000",
                        help="the baseline pins a thread per stream: it gets 60 s to connect")
    parser.add_argument("--pushpin-sizes", default="5000,15000",
                        help="stream counts through Pushpin (the targets are at 15,000)")
    parser.add_argument("--edges", default="1,2", help="Pushpin edge counts to compare")
    parser.add_argument("--rounds", type=int, default=3, help="changes delivered per row")
    parser.add_argument("--skip", default="", help="comma list of: flagstream,baseline,pushpin")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    print("Fan-out benchmark: SSE streams on one environment, flag changes via the API "
          f"({args.rounds} per row)")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"open files limit {os.sysconf('SC_OPEN_MAX')}\n")
    bench = Environment()
    env_id = bench.environment_id()
    auth = [f"Authorization: Bearer {bench.key}"]
    rows = []
    print_header()
    try:
        if "flagstream" not in skip:
            for n in sizes_of(args.sizes):
                rows.append(flagstream_row(bench, auth, n, 1, args.rounds))
            if args.processes > 1:
                for n in sizes_of(args.process_sizes):
                    rows.append(flagstream_row(bench, auth, n, args.processes, args.rounds))
        if "baseline" not in skip:
            for n in sizes_of(args.baseline_sizes):
                port = free_port()
                server = Server("baseline", bench, port)
                try:
                    rows.append(scenario("baseline", bench, server, [port],
                                         f"/baseline/events/{env_id}/", [], n,
                                         "event: stream-open", "event: flag_updated",
                                         rss_of=lambda: rss_kb(server.pid),
                                         server_pids=server.pids, connect_budget=60,
                                         rounds=1))
                finally:
                    server.stop()
        if "pushpin" not in skip and shutil.which("pushpin"):
            for n in sizes_of(args.pushpin_sizes):
                for edges in sizes_of(args.edges):
                    rows.append(pushpin_row(bench, auth, n, edges, args.rounds))
    finally:
        shutil.rmtree(bench.var, ignore_errors=True)
    print()
    print("kb_per_stream: growth of the serving processes' RSS (Pushpin: of all its processes) "
          "per open stream. threads and db_files: of the Django server processes; db_files are\n"
          "their descriptors on the SQLite file, an upper bound on their connections (SQLite "
          "keeps a closed connection's descriptor while another connection holds a lock).\n"
          "procs: server processes (pushpin rows: Pushpin edges). us_per_stream: CPU µs per "
          "stream per event of the serving processes (pushpin rows: the origin and every\n"
          "Pushpin process), beyond what the change costs with no stream open.")
    summarize(rows)
    return 0


def target(label: str, ok: bool, figures: str) -> None:
    print(f"target: {label:.<58} {'met' if ok else 'MISSED'} ({figures})")


def summarize(rows):
    ours = {(r["procs"], r["n"]): r for r in rows if r["name"] == "flagstream"}
    top = ours.get((1, 10000))
    if top:
        whole = top.get("delivered") == 10000 * top["rounds"]
        target("10,000 streams in one process", top["connected"] == 10000,
               f"{top['connected']:,} connected")
        target("at most 5 database connections", top["db_files"] <= 5, f"{top['db_files']}")
        target("under 50 KB per stream", (top["kb_per_stream"] or 1e9) < 50,
               f"{top['kb_per_stream']} KB")
        target("connects at 500/s or more", top["connect_rate"] >= 500,
               f"{top['connect_rate']:,}/s")
        target("p99 delivery under 1 s", whole and top.get("p99_ms", 1e9) < 1000,
               f"{top.get('p99_ms')} ms")
        target("at most 15 µs server CPU per stream per event",
               top.get("us_per_stream") is not None and top["us_per_stream"] <= 15,
               f"{top.get('us_per_stream')} µs at 10,000 streams")
    multi = [r for (procs, n), r in ours.items() if procs > 1 and n == 30000]
    for r in multi:
        whole = r.get("delivered") == r["n"] * r["rounds"]
        target(f"{r['procs']} processes hold 30,000 streams, p99 under 1 s",
               r["connected"] == 30000 and whole and r.get("p99_ms", 1e9) < 1000,
               f"{r['connected']:,} connected, p99 {r.get('p99_ms')} ms")
    pushed = {(r["procs"], r["n"]): r for r in rows if r["name"] == "pushpin"}
    one, two = pushed.get((1, 15000)), pushed.get((2, 15000))
    if one and two and one.get("p99_ms") and two.get("p99_ms"):
        speedup = one["p99_ms"] / two["p99_ms"]
        target("two Pushpin edges, 15,000 streams, p99 1.6x faster than one", speedup >= 1.6,
               f"p99 {one['p99_ms']} ms -> {two['p99_ms']} ms, {speedup:.2f}x")
    for r in pushed.values():
        if r["n"] != 15000:
            continue
        whole = r.get("delivered") == r["n"] * r["rounds"]
        target(f"Pushpin ({r['procs']} edge{'s' if r['procs'] > 1 else ''}), 15,000 streams, "
               "p99 under 300 ms", whole and r.get("p99_ms", 1e9) < 300,
               f"p99 {r.get('p99_ms')} ms")
        busy = sum((r.get("delivery_cpu_s") or {}).values())
        if busy:
            print(f"        the delivery took {busy:.2f} CPU-seconds across the server, Pushpin "
                  f"and the clients: on {os.cpu_count()} cores it cannot end in less than "
                  f"{busy / os.cpu_count() * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
