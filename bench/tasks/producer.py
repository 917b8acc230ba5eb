"""The writing side of the task benchmark, run as its own process (as an agent gateway or a
Celery worker would be): it writes through the product's services, never through the server
being measured.

``setup N``      creates N tasks of the demo organization's agent ``bench`` and a stream token
                 for each (the demo staff user); prints ``{"streams": [[path, pk], ...]}``.
``tasks PKS``    every 1/RATE s for SECONDS s: one chunk to each task, all in one transaction
                 (``task_messages_post``); the chunk's text is its send time.
``flags``        every 1/RATE s for SECONDS s: one change of a flag of the demo development
                 environment (``flag_state_update``), as the flag streams' load.
Both print ``{"sent": [unix time of each tick], "base": first event id - 1, "late": ticks
that started late}`` at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from flags import demo  # noqa: E402
from flags.audit import Actor  # noqa: E402
from flags.models import Environment, FlagState  # noqa: E402
from flags.services import flag_state_update  # noqa: E402
from sessions_app.agent_tasks import task_create, task_messages_post  # noqa: E402
from sessions_app.models import Task  # noqa: E402
from sessions_app.stream_tokens import stream_token_issue  # noqa: E402
from flags.channels import environment_channel  # noqa: E402
from streaming.selectors import current_id  # noqa: E402
from tenancy.models import Organization  # noqa: E402


def setup(count: int) -> None:
    organization = Organization.objects.get(slug=demo.ORGANIZATION)
    user = get_user_model().objects.get(username=demo.STAFF_USERNAME)
    streams = []
    for n in range(count):
        task = task_create(organization=organization, agent="bench", task_id=f"bench-{n}")
        token, _row = stream_token_issue(user=user, task=task)
        streams.append([f"/agent-to-agent/{organization.slug}/bench/tasks/{task.task_id}/stream?token={token}",
                        task.pk])
    print(json.dumps({"streams": streams}), flush=True)


def paced(rate: float, seconds: float, tick) -> tuple[list[float], int]:
    """Call ``tick(send time)`` every 1/rate s for ``seconds``; a tick that could not start on
    time starts at once (the offered load is then lower: reported as ``late``)."""
    sent, late = [], 0
    start = time.time()
    for n in range(int(rate * seconds)):
        due = start + n / rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.5 / rate:
            late += 1
        now = time.time()
        tick(now)
        sent.append(now)
    return sent, late


def produce_tasks(pks: list[int], rate: float, seconds: float) -> None:
    tasks = list(Task.objects.filter(pk__in=pks))
    base = {task.last_sequence for task in tasks}
    if len(base) != 1:
        raise SystemExit(f"the tasks are at different sequences: {sorted(base)}")

    def tick(now):
        task_messages_post([(task, "chunk", f"{now:.6f}", None, None) for task in tasks])

    sent, late = paced(rate, seconds, tick)
    print(json.dumps({"sent": sent, "base": base.pop(), "late": late}), flush=True)


def produce_flags(rate: float, seconds: float) -> None:
    environment = Environment.objects.get(key="development", project__key=demo.PROJECT)
    state = FlagState.objects.get(environment=environment, flag__key="button-color")
    base = current_id(environment_channel(environment.id))
    variants = ["red", "green", "blue"]
    actor = Actor.command("bench")
    count = [0]

    def tick(now):
        count[0] += 1
        flag_state_update(state=state, actor=actor, off_variant=variants[count[0] % 3])

    sent, late = paced(rate, seconds, tick)
    print(json.dumps({"sent": sent, "base": base, "late": late}), flush=True)


def main() -> None:
    command = sys.argv[1]
    if command == "setup":
        setup(int(sys.argv[2]))
    elif command == "tasks":
        produce_tasks([int(pk) for pk in sys.argv[2].split(",")], float(sys.argv[3]),
                      float(sys.argv[4]))
    elif command == "flags":
        produce_flags(float(sys.argv[2]), float(sys.argv[3]))


if __name__ == "__main__":
    main()
