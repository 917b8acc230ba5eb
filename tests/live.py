"""Real processes for end-to-end tests: daphne on a free loopback port, a Celery worker with
beat, and `manage.py` commands, all sharing one fresh database (a SQLite file under a temporary
var/ directory, or a new PostgreSQL database when DATABASE_URL points at PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    """Starts and stops the processes of one end-to-end test run."""

    def __init__(self, var_dir: Path, extra_env: dict | None = None, pushpin: bool = False,
                 server_args: tuple = (), edges: int = 2):
        """``pushpin``: streams go through Pushpin, ``edges`` instances of it (two by default:
        every Pushpin test runs across two edges, as a deployment behind a balancer would)."""
        self.var_dir = var_dir
        self.server_args = server_args  # e.g. ("--processes", "2")
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        self.port = free_port()
        self.origin_url = f"http://127.0.0.1:{self.port}"
        self.edge_urls = [self.origin_url]
        self._next_edge = 0
        self.pushpin = pushpin
        self._dropped_db = None
        # Every credential the test used: none may appear in any process's log (stop() checks)
        self.secrets: set[str] = set()
        self.env = {**os.environ, "FLAGSTREAM_VAR_DIR": str(var_dir),
                    "DJANGO_SETTINGS_MODULE": "config.settings.base", "PYTHONUNBUFFERED": "1",
                    **(extra_env or {})}
        if pushpin:
            self._configure_pushpin(edges)
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith(("postgres://", "postgresql://")):
            self.env["DATABASE_URL"] = self._fresh_postgres(database_url)
        else:
            self.env.pop("DATABASE_URL", None)

    @property
    def base_url(self) -> str:
        """Where clients connect: the server, or through Pushpin the next edge each time it is
        read, so a test's streams, reconnects and calls spread over every edge (as a TCP
        balancer in front of them would spread them)."""
        url = self.edge_urls[self._next_edge % len(self.edge_urls)]
        self._next_edge += 1
        return url

    def _configure_pushpin(self, edges: int) -> None:
        """Pushpins of its own: private ports, IPC sockets and logs under var_dir, each with its
        own signing key; GRIP_URL lists every edge's publish URL."""
        self.edge_urls, grip_urls = [], []
        for index in range(edges):
            root = self.var_dir / ("pushpin" if index == 0 else f"pushpin-{index + 1}")
            (root / "run").mkdir(parents=True, exist_ok=True)
            (root / "log").mkdir(exist_ok=True)
            port, publish_port = free_port(), free_port()
            key = secrets.token_hex(24)
            (root / "routes").write_text(f"* 127.0.0.1:{self.port}\n")
            (root / "pushpin.conf").write_text(PUSHPIN_CONF.format(
                root=root, port=port, publish_port=publish_port, key=key, log_level=2))
            grip_urls.append(f"http://127.0.0.1:{publish_port}?iss=pushpin&key={key}")
            self.edge_urls.append(f"http://127.0.0.1:{port}")
        self.env["GRIP_URL"] = ",".join(grip_urls)

    def start_pushpin(self) -> None:
        for index, url in enumerate(self.edge_urls):
            name = "pushpin" if index == 0 else f"pushpin-{index + 1}"
            self.spawn(name, shutil.which("pushpin"), "--config",
                       str(self.var_dir / name / "pushpin.conf"))
            self._wait_http(url, name)
            self._wait_pushpin_holds(url)

    def _wait_pushpin_holds(self, edge_url: str, timeout: float = 15) -> None:
        """Pushpin proxies plain requests before its handler takes held streams: a stream
        opened in between is answered 500 ("Accept service unavailable"). Wait until a
        demo stream is held (when the demo is loaded)."""
        keys = getattr(self, "credentials", {}).get("keys", {})
        client_key = keys.get("development", {}).get("client")
        if not client_key:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with httpx.stream("GET", f"{edge_url}/api/sdk/stream?sdkKey={client_key}",
                                  timeout=5) as response:
                    if response.status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("pushpin does not hold streams:\n" + self.logs())

    def _wait_http(self, url: str, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"{what} did not start:\n" + self.logs())

    def _fresh_postgres(self, url: str) -> str:
        import psycopg

        name = f"flagstream_live_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._dropped_db = (url, name)
        return urlunparse(urlparse(url)._replace(path=f"/{name}"))

    @contextlib.contextmanager
    def running(self):
        """The stack with the demo loaded and the server up, stopped (and cleaned) after."""
        try:
            yield self.start_with_demo()
        finally:
            self.stop()

    def start_with_demo(self) -> "LiveStack":
        """Migrate, load the demo (credentials in ``self.credentials``) and start the server."""
        import json

        self.manage("migrate", "--noinput")
        self.demo_output = self.manage("bootstrap_demo")
        self.credentials = json.loads((self.var_dir / "demo-credentials.json").read_text())
        self.remember(self.credentials)
        self.start_server()
        return self

    def api_client(self) -> httpx.Client:
        """An httpx client logged in to the management API as the demo's staff user."""
        client = httpx.Client(base_url=self.base_url, timeout=10)
        token = client.post("/api/auth/token", json={
            "username": "admin", "password": self.credentials["password"]}).json()["access"]
        self.remember(token)
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    def bearer(self, username: str, password: str) -> dict:
        """``Authorization`` header with a login JWT of ``username`` (/api/auth/token)."""
        token = httpx.post(f"{self.base_url}/api/auth/token",
                           json={"username": username, "password": password}).json()["access"]
        self.remember(token, password)
        return {"Authorization": f"Bearer {token}"}

    def remember(self, *secrets) -> None:
        """Note credentials (strings, or dicts and lists of them) that must never be logged."""
        for secret in secrets:
            if isinstance(secret, dict):
                self.remember(*secret.values())
            elif isinstance(secret, (list, tuple, set)):
                self.remember(*secret)
            elif isinstance(secret, str) and len(secret) >= 12:
                self.secrets.add(secret)

    def leaked_secrets(self) -> list[str]:
        """Which remembered credentials appear in which process's log (whole logs)."""
        leaks = []
        for _, log in self.processes:
            text = log.read_text(errors="replace") if log.exists() else ""
            leaks += [f"{secret[:10]}… in {log.name}" for secret in sorted(self.secrets)
                      if secret in text]
        return leaks

    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """Run `manage.py <args>` as a separate process; return its output."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout + result.stderr

    def spawn(self, name: str, *argv: str) -> Path:
        log = self.var_dir / f"{name}.log"
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log.open("w"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((process, log))
        return log

    def start_server(self) -> None:
        # One process unless the test asks for more (serve's default is one per core).
        processes = () if "--processes" in self.server_args else ("--processes", "1")
        self.spawn("server", sys.executable, "manage.py", "serve", "--port", str(self.port),
                   *processes, *self.server_args)
        self._wait_http(self.origin_url, "the server")
        if self.pushpin and not any(log.name.startswith("pushpin") for _, log in self.processes):
            self.start_pushpin()

    def start_nats(self) -> str:
        """A nats-server of its own with JetStream (storage under var_dir), on a free
        loopback port; NATS_URL of every process started after this points at it."""
        self.nats_port = getattr(self, "nats_port", None) or free_port()
        store = self.var_dir / "nats"
        store.mkdir(exist_ok=True)
        log = self.spawn("nats", shutil.which("nats-server"), "-js", "-a", "127.0.0.1",
                         "-p", str(self.nats_port), "-sd", str(store))
        self.env["NATS_URL"] = f"nats://127.0.0.1:{self.nats_port}"
        self.wait_for_log(log, "Server is ready", timeout=20)
        return self.env["NATS_URL"]

    def start_redis(self) -> str:
        """A redis-server of its own on a free loopback port (started again on the same port
        after a stop); REDIS_URL of every process started after this points at it."""
        self.redis_port = getattr(self, "redis_port", None) or free_port()
        log = self.spawn("redis", shutil.which("redis-server"), "--bind", "127.0.0.1",
                         "--port", str(self.redis_port), "--save", "", "--appendonly", "no")
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        self.wait_for_log(log, "Ready to accept connections", timeout=20)
        return self.env["REDIS_URL"]

    def start_postgres(self) -> str:
        """A PostgreSQL server of its own (Debian's binaries), on a free loopback port, its
        data in a directory of its own (started again on the same port and data after a
        stop); DATABASE_URL of every process started after this points at its database.
        Run as root (as in CI), the server runs as the ``postgres`` user."""
        import glob
        import tempfile

        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                          key=lambda p: int(p.split("/")[-2]))[-1]
        as_postgres = os.geteuid() == 0
        if not getattr(self, "pg_dir", None):
            self.pg_dir = Path(tempfile.mkdtemp(prefix="flagstream-pg-"))
            self.pg_dir.chmod(0o755)
            if as_postgres:
                shutil.chown(self.pg_dir, "postgres")
            self.pg_port = free_port()
            self._as_user(as_postgres, f"{binaries}/initdb -D {self.pg_dir}/data -A trust "
                                       "-U postgres", run=True)
        log = self.spawn("postgres", *self._as_user(
            as_postgres, f"exec {binaries}/postgres -D {self.pg_dir}/data -p {self.pg_port} "
                         f"-k {self.pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off"))
        self.wait_for_log(log, "ready to accept connections", timeout=30)
        url = f"postgres://postgres@127.0.0.1:{self.pg_port}"
        if not getattr(self, "pg_created", False):
            import psycopg

            if self._dropped_db:  # the shared server's fresh database is not needed
                shared, name = self._dropped_db
                with psycopg.connect(shared, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                self._dropped_db = None
            with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE flagstream")
            self.pg_created = True  # the whole server goes with the test
        self.env["DATABASE_URL"] = f"{url}/flagstream"
        return self.env["DATABASE_URL"]

    @staticmethod
    def _as_user(as_postgres: bool, command: str, run: bool = False):
        argv = ["su", "postgres", "-s", "/bin/sh", "-c", command] if as_postgres \
            else ["/bin/sh", "-c", command]
        if run:
            subprocess.run(argv, check=True, capture_output=True, timeout=120)
        return argv

    def start_second_server(self) -> str:
        """Another server process on its own port, sharing the database (and Redis, when
        set); its base URL."""
        port = free_port()
        self.spawn("server-2", sys.executable, "manage.py", "serve", "--port", str(port),
                   "--processes", "1")
        url = f"http://127.0.0.1:{port}"
        self._wait_http(url, "the second server")
        return url

    def stop_process(self, log: Path, sig: int = signal.SIGTERM) -> int:
        """Signal the process spawned with ``log`` and wait for it; its exit code."""
        process = self.process_of(log)
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=15)
        self.processes = [(p, spawned) for p, spawned in self.processes if spawned != log]
        return process.returncode

    def stop_server(self) -> None:
        """Stop the server process (SIGTERM), leaving the others running."""
        for process, log in self.processes:
            if log.name.startswith("server") and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
        self.processes = [(p, log) for p, log in self.processes if p.poll() is None]

    def start_worker(self, *extra: str, name: str = "celery") -> Path:
        """A Celery worker with its own beat; its log is ``<name>.log``."""
        bin_dir = Path(sys.executable).parent
        return self.spawn(name, str(bin_dir / "celery"), "-A", "config", "worker", "--beat",
                          "--loglevel=INFO", "--concurrency=1", "-n", f"{name}@%h",
                          f"--schedule={self.var_dir / f'{name}-beat-schedule'}", *extra)

    def process_of(self, log: Path) -> subprocess.Popen:
        """The process spawned with ``log``."""
        return next(process for process, spawned in self.processes if spawned == log)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-6000:]}"
                         for _, log in self.processes if log.exists())

    def wait_for_log(self, log: Path, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in log.read_text():
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen in {log.name}:\n{log.read_text()[-4000:]}")

    def stop(self) -> None:
        logs = self.logs()
        if os.environ.get("FLAGSTREAM_TEST_LOGS") or "Traceback" in logs:
            # Straight to the real stderr: pytest would hide it unless the last test failed.
            sys.__stderr__.write(f"\n===== logs of the live stack in {self.var_dir} "
                                 f"=====\n{logs}\n")
        for process, _ in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._dropped_db:
            import psycopg

            url, name = self._dropped_db
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if getattr(self, "pg_dir", None):
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        leaks = self.leaked_secrets()
        assert not leaks, f"credentials written to logs: {leaks}"


PUSHPIN_CONF = """\
[global]
include={{libdir}}/internal.conf
rundir={root}/run
ipc_prefix=fs-
port_offset=0

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:{port}
logdir={root}/log
log_level={log_level}
client_buffer_size=8192
client_maxconn=50000

[proxy]
routesfile={root}/routes
sig_iss=pushpin
sig_key={key}
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out
updates_check=off

[handler]
push_in_spec=ipc://{{rundir}}/{{ipc_prefix}}push-in
push_in_sub_specs=ipc://{{rundir}}/{{ipc_prefix}}push-in-sub
push_in_http_addr=127.0.0.1
push_in_http_port={publish_port}
stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats
command_spec=ipc://{{rundir}}/{{ipc_prefix}}command
message_rate=200000
message_hwm=400000
"""


def pushpin_available() -> bool:
    return shutil.which("pushpin") is not None


def nats_available() -> bool:
    return shutil.which("nats-server") is not None


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def postgres_available() -> bool:
    import glob

    return bool(glob.glob("/usr/lib/postgresql/*/bin/postgres"))


def stream_modes() -> list:
    """Parameters for a stack fixture: streams held by the server, and held by Pushpin."""
    import pytest

    return ["direct", pytest.param("pushpin", marks=pytest.mark.skipif(
        not pushpin_available(), reason="pushpin is not installed (.ci/run installs it)"))]
