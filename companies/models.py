"""The NATS bridge's place in its JetStream stream, stored with the events it brought in."""

from django.db import models


class BridgeCursor(models.Model):
    """The last JetStream stream sequence a bridge (by durable consumer name) stored.

    Updated in the same transaction as the events, so a message delivered again (the bridge
    died after storing and before acknowledging) is recognised and not stored twice."""

    name = models.CharField(max_length=200, unique=True)
    stream_sequence = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.stream_sequence}"
