"""Scheduled changes under load: 1,000 changes due in the same second across 100 flags,
applied by two Celery workers (plus beat), each exactly once, all within 5 s of their time.

Run: make bench-scheduled   (embedded mode; set DATABASE_URL and REDIS_URL for PostgreSQL+Redis)
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
LEAD_SECONDS = 45  # time to schedule 1,000 changes before they are due


def applied_in_log(path: Path) -> int:
    """Changes a worker applied, summed from the results its log shows for each task."""
    pattern = re.compile(r"succeeded in [0-9.e-]+s: \{[^}]*'applied': (\d+)")
    return sum(int(m.group(1)) for m in pattern.finditer(path.read_text(errors="replace")))


def main() -> int:
    var = Path(tempfile.mkdtemp(prefix="flagstream-sched-"))
    env = {**os.environ, "FLAGSTREAM_VAR_DIR": str(var), "LOG_LEVEL": "WARNING",
           "PYTHONUNBUFFERED": "1"}
    mode = "PostgreSQL + Redis" if env.get("DATABASE_URL") else "embedded (SQLite, filesystem broker)"
    print("Scheduled changes: 1,000 due in the same second across 100 flags, 2 workers + beat")
    print(f"{mode}; Python {platform.python_version()}, {os.cpu_count()} CPUs\n")

    def manage(*args, extra_env=None):
        return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env={**env, **(extra_env or {})},
                              check=True, capture_output=True, text=True)

    manage("migrate", "--noinput")
    manage("bootstrap_demo")
    processes = []
    for name, argv in (("worker1", ["worker", "-n", "bench1@%h", "--concurrency", "1"]),
                       ("worker2", ["worker", "-n", "bench2@%h", "--concurrency", "1"]),
                       ("beat", ["beat", f"--schedule={var / 'beat-schedule'}"])):
        log = open(var / f"{name}.log", "w")
        processes.append(subprocess.Popen(
            [str(Path(PY).parent / "celery"), "-A", "config", *argv, "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        due = (datetime.now(timezone.utc) + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)
        started = time.monotonic()
        manage("shell", "-c", (Path(__file__).parent / "setup_changes.py").read_text(),
               extra_env={"DUE_AT": due.isoformat()})
        print(f"scheduled 1,000 changes in {time.monotonic() - started:.1f} s, due at "
              f"{due.isoformat()}")
        if datetime.now(timezone.utc) >= due:
            print("setup took longer than the lead time; lateness below includes it")
        deadline = due + timedelta(seconds=60)
        query = ("from flags.models import ScheduledChange as S, AuditLog as A;"
                 "import json;"
                 "print(json.dumps({'pending': S.objects.filter(status='pending').count(),"
                 "'applied': S.objects.filter(status='applied').count(),"
                 "'failed': S.objects.filter(status='failed').count(),"
                 "'lateness': list(S.objects.filter(status='applied')"
                 ".values_list('lateness_ms', flat=True)),"
                 "'audited': A.objects.filter(source='scheduler').count()}))")
        while True:
            time.sleep(2)
            result = json.loads(manage("shell", "-c", query).stdout.strip().splitlines()[-1])
            if result["pending"] == 0 or datetime.now(timezone.utc) > deadline:
                break
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)  # the main process: a warm shutdown
        for name, process in zip(("worker1", "worker2", "beat"), processes):
            try:
                process.wait(60)  # it hands its unacknowledged ETA tasks back to the queue
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 60 s of SIGTERM; killed. Its log's end:\n"
                      + (var / f"{name}.log").read_text(errors="replace")[-3000:])
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        by_worker = {name: applied_in_log(var / f"{name}.log") for name in ("worker1", "worker2")}
        shutil.rmtree(var, ignore_errors=True)

    lateness = sorted(result["lateness"])
    print()
    print(f"{'applied':>8}{'failed':>8}{'pending':>8}{'audited':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}")
    p99 = lateness[max(0, int(len(lateness) * 0.99) - 1)] if lateness else None
    print(f"{result['applied']:>8}{result['failed']:>8}{result['pending']:>8}"
          f"{result['audited']:>9}{statistics.median(lateness) if lateness else '-':>9}"
          f"{p99 if p99 is not None else '-':>9}{lateness[-1] if lateness else '-':>9}")
    print("applied by " + ", ".join(f"{name}: {n}" for name, n in by_worker.items())
          + " (from their task results)")
    ok_all = result["applied"] == 1000 and result["audited"] == 1000
    print()
    print(f"target: every change applied, each exactly once ...... {'met' if ok_all else 'MISSED'}"
          f" ({result['applied']} applied, {result['audited']} scheduler changes audited)")
    ok_time = bool(lateness) and lateness[-1] <= 5000
    print(f"target: all within 5 s of their time ................. "
          f"{'met' if ok_time and ok_all else 'MISSED'} (max {lateness[-1] if lateness else '-'} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
