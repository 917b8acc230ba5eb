"""`make run` stops as a whole, however it is stopped (issue 15, defect 8): Ctrl-C (SIGINT to
the process group), SIGTERM to the group (what `timeout`, supervisors and CI harnesses send),
or SIGTERM to make alone. Before, SIGTERM to the group left Celery's main process running."""

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.live import ROOT, free_port

pytestmark = pytest.mark.live

WAYS = {"ctrl-c": ("group", signal.SIGINT), "sigterm-group": ("group", signal.SIGTERM),
        "sigterm-make": ("make", signal.SIGTERM)}


def group_members(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,sid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if line.split()[0] == str(pgid) or line.split()[1] == str(pgid)]


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids) -> set[int]:
    living = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] != "Z":
                    living.add(pid)
        except (ProcessLookupError, FileNotFoundError):
            pass
    return living


@pytest.mark.parametrize("way", list(WAYS))
def test_make_run__stopped__every_process_ends_within_10_s(tmp_path, way):
    port = free_port()
    env = {**os.environ, "FLAGSTREAM_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE":
           "config.settings.base"}
    env.pop("DATABASE_URL", None)  # the embedded default, as make run is used
    env.pop("REDIS_URL", None)
    log = (tmp_path / "make-run.log").open("w")
    make = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("make run did not come up:\n" + (tmp_path / "make-run.log").read_text())
        time.sleep(3)  # the worker and beat are up too
        # make run printed the demo's API key, and an agent CLI's event goes in with it
        printed = (tmp_path / "make-run.log").read_text()
        api_key = next(line.split()[-1] for line in printed.splitlines()
                       if line.startswith("API key"))
        started = httpx.post(f"http://127.0.0.1:{port}/api/ingest", json={
            "type": "conversation.started", "timestamp": "2026-11-23T10:00:00Z",
            "data": {"conversation_id": f"make-run-{way}", "participants": []}},
            headers={"Authorization": f"Bearer {api_key}"})
        assert started.status_code == 201, started.text
        everything = descendants(make.pid) | {make.pid}
        assert len(everything) >= 4  # make, the launcher, the server, the worker (and its pool)
        target, signum = WAYS[way]
        if target == "group":
            os.killpg(make.pid, signum)
        else:
            os.kill(make.pid, signum)
        started = time.monotonic()
        while alive(everything) and time.monotonic() - started < 10:
            time.sleep(0.2)
        left = alive(everything)
        assert not left, subprocess.run(["ps", "-o", "pid,args", "-p",
                                         ",".join(map(str, left))],
                                        capture_output=True, text=True).stdout
        output = (tmp_path / "make-run.log").read_text()
        assert "Traceback" not in output, output[-3000:]
        assert "Warm shutdown" in output  # Celery stopped as asked, not killed
    finally:
        for pid in alive(descendants(make.pid) | {make.pid}):
            os.kill(pid, signal.SIGKILL)
        log.close()
