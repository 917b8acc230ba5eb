"""A task that takes its time, loaded only into test workers (``celery worker --include``), to
see what a worker does with the task in hand when it is told to stop."""

import time
from pathlib import Path

from celery import shared_task


@shared_task(ignore_result=True)
def hold(marker: str, seconds: float) -> None:
    Path(f"{marker}.started").touch()
    time.sleep(seconds)
    Path(f"{marker}.done").touch()
