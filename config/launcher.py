"""``make run``'s supervisor: the ASGI server and a Celery worker with beat, stopped together.

Each child runs in a process group of its own, so that a signal meant for ``make run`` (Ctrl-C
in a terminal, SIGTERM from a supervisor or a CI harness to the whole group, or SIGTERM to
make alone, which make passes on to this process) reaches them only through here, once, and to
their main process: the server ends its streams properly, Celery's main process finishes the
task in hand and stops its pool and beat (a TERM to its pool children directly would kill a task
mid-way, and left the main process waiting for them). Whatever has not exited after
``GRACE_SECONDS`` is killed. When one child stops on its own, the other is stopped too.

Run: ``python config/launcher.py --host 127.0.0.1 --port 8000 --var-dir var`` (what make run does).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 8.0


def children_argv(python: str, host: str, port: int, var_dir: str) -> dict[str, list[str]]:
    celery = str(Path(python).with_name("celery"))
    return {
        "worker": [celery, "-A", "config", "worker", "--beat", "--loglevel=INFO",
                   "--concurrency=2", f"--schedule={var_dir}/celerybeat-schedule"],
        # One process: a laptop's `make run` needs no more (production: one per core).
        "server": [python, "manage.py", "serve", "--host", host, "--port", str(port),
                   "--processes", "1"],
    }


class Launcher:
    def __init__(self, argvs: dict[str, list[str]]):
        self.argvs = argvs
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self) -> None:
        for name, argv in self.argvs.items():
            self.children[name] = subprocess.Popen(argv, start_new_session=True)

    def request_stop(self, signum=None, frame=None) -> None:
        if self.stopping:
            return
        self.stopping = True
        print("\nStopping server, worker and beat ...", flush=True)
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        """Until every child has exited; returns the first non-zero exit code, else 0."""
        deadline = None
        while any(child.poll() is None for child in self.children.values()):
            if not self.stopping and any(c.poll() is not None for c in self.children.values()):
                self.request_stop()  # one stopped on its own: take the other down too
            if self.stopping and deadline is None:
                deadline = time.monotonic() + GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                for name, child in self.children.items():
                    if child.poll() is None:
                        print(f"{name} did not stop within {GRACE_SECONDS:.0f} s: killed",
                              flush=True)
                        os.killpg(child.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.1)
        # Pool children and embedded beat live in each child's group: none may outlive it.
        for child in self.children.values():
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        codes = [child.returncode for child in self.children.values()]
        return next((code for code in codes if code not in (0, -signal.SIGTERM)), 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--var-dir", default="var")
    args = parser.parse_args(argv)
    launcher = Launcher(children_argv(sys.executable, args.host, args.port, args.var_dir))
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, launcher.request_stop)
    launcher.start()
    return launcher.wait()


if __name__ == "__main__":
    sys.exit(main())
