"""What each running process reports about itself, so figures add up across processes."""

from django.db import models


class ProcessReport(models.Model):
    """One process's latest report: a server's open streams and counters, or the NATS
    bridge's state. Written every STREAM_PRESENCE_SECONDS; a report three intervals old is
    a process that is gone (streaming.presence)."""

    key = models.CharField(max_length=200, unique=True)  # role:host:pid:start
    role = models.CharField(max_length=20, db_index=True)  # "server", "bridge"
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started = models.DateTimeField()
    updated = models.DateTimeField(db_index=True)
    figures = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.key
