"""Several server processes on one port (``manage.py serve --processes N``).

One Python process uses one core, and holds at most ~19,000 streams (20,000 open files). The
supervisor here binds the listening socket once and starts N workers that each serve it
(``serve --fd``: daphne adopts the inherited socket; the kernel hands each new connection to one
of them). Each worker has its own hub and is fed across processes as any two servers are (the
table tailer embedded, Redis pub/sub with ``REDIS_URL``); each writes its own report, so
``/stream/stats``, ``/stream/health`` and ``/metrics`` add them all up.

SIGTERM or SIGINT to the supervisor is passed to every worker, which ends its streams properly
(clients resume elsewhere with Last-Event-ID) and exits; the supervisor exits when all have,
killing any still running after ``grace_seconds``. A worker that exits on its own is started
again after a second (and the supervisor says so); one that cannot start (it exits within
seconds, three times running) stops them all with an error instead of a restart loop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def process_count(asked: int, host: str, cores: int | None = None) -> tuple[int, str]:
    """How many server processes ``serve --processes asked`` runs (0: one per core), and a
    note for the operator when that is not what they might expect."""
    cores = cores or os.cpu_count() or 1
    if asked > 0:
        return asked, ""
    if ":" in host and cores > 1:  # the socket workers adopt is IPv4 only
        return 1, (f"{host} is IPv6: serving in one process (several need an IPv4 "
                   "address)")
    return cores, ""


# Connections waiting to be accepted: past it the kernel drops a client's SYN and the client
# tries again a second later (a burst of CLIs or browsers connecting at once).
BACKLOG = 4096


def listening_socket(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    if ":" in host:  # the endpoint daphne adopts a socket with knows IPv4 only
        raise SystemExit(f"--processes serves IPv4 addresses; {host!r} is not one")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    listener.set_inheritable(True)
    return listener


def stop_with_supervisor() -> None:
    """In a worker: be sent SIGTERM when the supervisor dies, however it dies (SIGKILL, a
    crash), so no worker is left serving the port on its own (Linux; elsewhere nothing)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor was already gone before the call
        os.kill(os.getpid(), signal.SIGTERM)


def worker_endpoint(fd: int) -> str:
    """The Twisted endpoint of a worker serving the inherited socket ``fd`` (IPv4)."""
    return f"fd:fileno={fd}"


def supervise(host: str, port: int, count: int, worker_args: list[str], out=sys.stdout,
              grace_seconds: float = 30.0) -> int:
    """Serve ``host:port`` with ``count`` worker processes until told to stop; the exit code
    (0 when every worker stopped cleanly)."""
    listener = listening_socket(host, port)
    fd = listener.fileno()
    command = [sys.executable, os.path.abspath(sys.argv[0]), "serve", "--fd", str(fd),
               "--host", host, "--port", str(port), *worker_args]

    def start(index: int) -> subprocess.Popen:
        return subprocess.Popen(command, pass_fds=(fd,),
                                env={**os.environ, "FLAGSTREAM_WORKER": str(index)})

    workers = [start(index) for index in range(count)]
    started = [time.monotonic()] * count
    quick_exits = 0
    out.write(f"Serving on http://{host}:{port}/ with {count} processes "
              f"(pids {', '.join(str(w.pid) for w in workers)})\n")
    out.flush()
    stopping: list[float] = []

    def stop(signum, _frame):
        if not stopping:
            stopping.append(time.monotonic())
            out.write(f"Stopping {count} server processes ...\n")
            out.flush()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            for index, worker in enumerate(workers):
                code = worker.poll()
                if code is not None and not stopping:
                    quick_exits = quick_exits + 1 if time.monotonic() - started[index] < 10 else 0
                    if quick_exits >= 3:
                        out.write(f"server processes exit as they start (the last: {code}); "
                                  "stopping: see the errors above\n")
                        out.flush()
                        stop(None, None)
                        continue
                    out.write(f"server process {worker.pid} exited ({code}); starting another\n")
                    out.flush()
                    time.sleep(1)
                    if not stopping:
                        workers[index] = start(index)
                        started[index] = time.monotonic()
            if stopping:
                if all(worker.poll() is not None for worker in workers):
                    break
                if time.monotonic() - stopping[0] > grace_seconds:
                    for worker in workers:
                        if worker.poll() is None:
                            worker.kill()
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        listener.close()
    codes = [worker.wait() for worker in workers]
    return 0 if all(code == 0 for code in codes) and quick_exits < 3 else 1
