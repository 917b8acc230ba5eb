"""Run inside `manage.py shell`: 100 flags, 10 scheduled rollouts each, all due at DUE_AT."""

import os
from datetime import datetime

from flags import services
from flags.audit import Actor
from flags.models import Environment, FlagState
from flags.scheduling import scheduled_change_create

actor = Actor.command("bench")
due_at = datetime.fromisoformat(os.environ["DUE_AT"])
environment = Environment.objects.get(key="production")
project = environment.project
for f in range(100):
    flag = services.flag_create(project=project, key=f"bench-{f}", actor=actor)
    state = FlagState.objects.get(flag=flag, environment=environment)
    for c in range(10):
        # Every change sets a different split, so applying one twice would show (as a change).
        weight = c * 10 + 5
        scheduled_change_create(
            state=state, scheduled_at=due_at, change_type="set_rollout",
            payload={"distribution": [{"variant": "true", "weight": weight},
                                      {"variant": "false", "weight": 100 - weight}]},
            actor=actor)
print("scheduled")
