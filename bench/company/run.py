"""Company live-update benchmark: NATS publish → bridge → server → SSE, end to end.

For each mode it starts its own nats-server (JetStream), a fresh database with COMPANIES
companies, one server process (`manage.py serve`), one bridge (`manage.py nats_bridge`), and
STREAMS company streams spread evenly over the companies (bench/company/clients.py, one epoll
process of plain sockets). Then:

1. **rate**: for each of RATES, metric events at that rate for SECONDS published to JetStream (each publish
   acknowledged), companies in turn (bench/company/publisher.py). Every event goes to its
   company's STREAMS/COMPANIES streams. Reported: deliveries against those expected, deliveries
   of another company's event (must be 0), latency from just before the NATS publish to the
   arrival at the client (p50/p95/p99/max, over every 10th stream of each company), and the CPU
   of the server, the bridge, nats-server and the clients.
2. **max**: the streams are thinned to one per company; BURST events are published as fast as
   the connection takes them, and the bridge drains them: events/s = BURST / (last arrival at
   a client − first publish), i.e. sustained through the bridge end to end.

Modes: ``redis`` (SQLite + Redis pub/sub between the bridge and the server: a deployment with
NATS has these) and ``embedded`` (SQLite, no Redis: the server finds the bridge's events by
polling storage every STREAM_POLL_SECONDS, 0.2 s by default).

Run: make bench-company   (or .venv/bin/python bench/company/run.py [--modes redis,embedded]
     [--streams 1000] [--companies 10] [--rates 1000,500,250] [--seconds 30]
     [--burst 50000])
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.fanout.run import Environment, Server, cpu_seconds  # noqa: E402
from tests.live import free_port  # noqa: E402

PY = sys.executable
HERE = Path(__file__).parent

COMPANIES_SETUP = """
from django.contrib.auth import get_user_model
from tenancy import services
admin = get_user_model().objects.get(username="admin")
for slug in SLUGS:
    organization = services.organization_create(slug=slug, name=slug.upper())
    services.membership_set(organization=organization, user=admin, role="viewer")
"""


class Daemon:
    """A server process of the run's own (nats-server, redis-server), on loopback."""

    def __init__(self, name: str, argv: list[str], ready: str, var: Path):
        self.log = var / f"{name}.log"
        self.process = subprocess.Popen(argv, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 20
        while ready not in self.log.read_text():
            if time.time() > deadline or self.process.poll() is not None:
                raise SystemExit(f"{name} did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def publisher(env, url, companies, *args) -> subprocess.Popen:
    return subprocess.Popen([PY, str(HERE / "publisher.py"), "--url", url, "--companies",
                             ",".join(companies), *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def command(clients, line: str) -> dict:
    clients.stdin.write(line + "\n")
    clients.stdin.flush()
    return json.loads(clients.stdout.readline())


def ms(value):
    return None if value is None else round(value * 1000, 1)


def run_mode(mode: str, args) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="flagstream-bench-company-"))
    daemons, rows = [], []
    server = bridge = clients = None
    try:
        nats_port = free_port()
        daemons.append(Daemon("nats", [shutil.which("nats-server"), "-js", "-a", "127.0.0.1",
                                       "-p", str(nats_port), "-sd", str(work / "nats")],
                              "Server is ready", work))
        backends = {}
        if mode == "redis":
            redis_port = free_port()
            daemons.append(Daemon("redis", [shutil.which("redis-server"), "--bind",
                                            "127.0.0.1", "--port", str(redis_port), "--save",
                                            "", "--appendonly", "no"],
                                  "Ready to accept connections", work))
            backends["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        nats_url = f"nats://127.0.0.1:{nats_port}"
        bench = Environment(backends)
        bench.env.update({"NATS_URL": nats_url, "STREAM_PRESENCE_SECONDS": "1",
                          "STREAM_OPS_TOKEN": "bench"})
        companies = [f"c{n:02d}" for n in range(args.companies)]
        subprocess.run([PY, "manage.py", "shell", "-c",
                        f"SLUGS = {companies!r}\n{COMPANIES_SETUP}"], cwd=ROOT, env=bench.env,
                       check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        server = Server("flagstream", bench, port)
        bridge_log = bench.var / "bridge.log"
        bridge = subprocess.Popen([PY, "manage.py", "nats_bridge"], cwd=ROOT, env=bench.env,
                                  stdout=bridge_log.open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        deadline = time.time() + 60
        while "reading" not in bridge_log.read_text():
            if time.time() > deadline or bridge.poll() is not None:
                raise SystemExit(f"the bridge did not start:\n{bridge_log.read_text()}")
            time.sleep(0.2)
        per_company = args.streams // args.companies
        clients = subprocess.Popen(
            [PY, str(HERE / "clients.py"), "--port", str(port), "--companies",
             ",".join(companies), "--per-company", str(per_company), "--header",
             f"Authorization: {server.api.headers['Authorization']}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        opened = json.loads(clients.stdout.readline())
        time.sleep(2)
        watched = {"server": server.pid, "bridge": bridge.pid, "nats": daemons[0].pid,
                   "clients": clients.pid}

        # 1. the rate phases
        for rate in args.rates:
            before = {name: cpu_seconds(pid) for name, pid in watched.items()}
            sent = json.loads(publisher(bench.env, nats_url, companies, "--rate", rate,
                                        "--seconds", args.seconds).communicate()[0])
            expected = sent["sent"] * opened["connected"] // len(companies)
            got = settled(clients, expected)
            used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
            rows.append({"mode": mode, "phase": f"{rate:g}/s x {args.seconds:g} s",
                         "streams": opened["connected"], "published": sent["sent"],
                         "pub_per_s": round(sent["sent"] / sent["seconds"]),
                         "delivered": got["deliveries"], "expected": expected,
                         "cross": got["cross"], "p50_ms": ms(got["p50"]),
                         "p95_ms": ms(got["p95"]), "p99_ms": ms(got["p99"]),
                         "max_ms": ms(got["max"]),
                         "events_per_s": round(sent["sent"] / (got["last"] - sent["first"]))
                         if got["last"] else None,
                         "cpu": {name: round(value / sent["seconds"], 2)
                                 for name, value in used.items()}})
            print_row(rows[-1])

        # 2. the max phase: as fast as the bridge takes them
        kept = command(clients, "thin 1")["kept"]
        before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        sent = json.loads(publisher(bench.env, nats_url, companies, "--count",
                                    args.burst).communicate()[0])
        got = settled(clients, args.burst * kept // args.companies)
        used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
        elapsed = got["last"] - sent["first"] if got["last"] else None
        rows.append({"mode": mode, "phase": f"max, {args.burst} events",
                     "streams": kept, "published": sent["sent"],
                     "pub_per_s": round(sent["sent"] / sent["seconds"]),
                     "delivered": got["deliveries"], "expected": args.burst * kept
                     // args.companies, "cross": got["cross"], "p50_ms": ms(got["p50"]),
                     "p95_ms": ms(got["p95"]), "p99_ms": ms(got["p99"]),
                     "max_ms": ms(got["max"]),
                     "events_per_s": round(args.burst / elapsed) if elapsed else None,
                     "cpu": {name: round(value / elapsed, 2) for name, value in used.items()}
                     if elapsed else {}})
        print_row(rows[-1])
        command_quietly(clients, "stop")
        return rows
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        if bridge is not None and bridge.poll() is None:
            os.killpg(bridge.pid, signal.SIGTERM)
            bridge.wait(15)
        if server is not None:
            server.stop()
        for daemon in daemons:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


def settled(clients, expected: int, limit: float = 120) -> dict:
    """The phase's figures once every expected delivery arrived, or nothing more arrived for
    3 s, or after ``limit`` s; the next phase starts from zero."""
    deadline, seen, quiet = time.time() + limit, -1, 0
    while time.time() < deadline:
        time.sleep(1)
        got = command(clients, "read")
        if got["deliveries"] >= expected:
            break
        quiet = quiet + 1 if got["deliveries"] == seen else 0
        if quiet >= 3:
            break
        seen = got["deliveries"]
    return command(clients, "phase")


def command_quietly(clients, line: str) -> None:
    try:
        clients.stdin.write(line + "\n")
        clients.stdin.flush()
        clients.wait(10)
    except (BrokenPipeError, subprocess.TimeoutExpired):
        clients.kill()


COLUMNS = [("mode", 9), ("phase", 22), ("streams", 8), ("published", 10), ("pub_per_s", 10),
           ("delivered", 10), ("expected", 10), ("cross", 6), ("p50_ms", 8), ("p95_ms", 8),
           ("p99_ms", 8), ("max_ms", 9), ("events_per_s", 13)]


def print_row(row: dict) -> None:
    print("".join(str(row.get(name) if row.get(name) is not None else "-").rjust(width)
                  for name, width in COLUMNS), flush=True)
    cpu = ", ".join(f"{name} {value:.2f}" for name, value in row["cpu"].items())
    print(f"{'':>9}  CPU seconds per second: {cpu}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="company live-update benchmark")
    parser.add_argument("--modes", default="redis,embedded")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--companies", type=int, default=10)
    parser.add_argument("--rates", default="1000,500,250",
                        help="events a second published, one rate phase each (the issue's "
                             "1,000 first)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=50000)
    args = parser.parse_args()
    args.rates = [float(rate) for rate in args.rates.split(",") if rate]
    missing = [name for name in ("nats-server", "redis-server") if not shutil.which(name)]
    if missing:
        raise SystemExit(f"needs {' and '.join(missing)} (Debian: apt-get install "
                         f"{' '.join(missing)})")
    print(f"Company live updates: {args.streams} streams over {args.companies} companies; "
          f"NATS at {'/'.join(f'{r:g}' for r in args.rates)} a second for {args.seconds:g} s "
          f"each, then {args.burst} as fast as the "
          f"bridge takes them; one server process, one bridge")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}\n")
    print("".join(name.rjust(width) for name, width in COLUMNS))
    for mode in args.modes.split(","):
        run_mode(mode, args)
    print("\nlatency: from just before the NATS publish to the arrival at the client, over "
          "every 10th stream of each company (rate) or the streams kept (max).\n"
          "events_per_s: events published / (last arrival - first publish). cross: deliveries "
          "of another company's event (must be 0).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
