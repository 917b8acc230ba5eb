"""Celery entry points of the sessions app."""

from celery import shared_task

from . import agent_tasks


@shared_task
def prune_task_messages() -> int:
    """Beat, every 15 minutes: delete task messages past TASK_MESSAGE_TTL_MINUTES."""
    return agent_tasks.task_messages_prune()
