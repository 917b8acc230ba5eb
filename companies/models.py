"""What the NATS bridge has stored, stored with the events it brought in."""

from django.db import models
from django.utils import timezone


class BridgeMessage(models.Model):
    """A JetStream message (by stream sequence) a bridge (by durable consumer name) stored.

    Written in the same transaction as the events, so a message delivered again — the bridge
    died after storing and before acknowledging, in whatever order JetStream sends it again —
    is recognised and not stored twice. Kept as long as the stream keeps messages
    (STREAM_EVENT_RETENTION_HOURS), then trimmed by the bridge."""

    name = models.CharField(max_length=200)
    sequence = models.BigIntegerField()
    stored_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "sequence"],
                                               name="companies_bridge_message_once")]

    def __str__(self) -> str:
        return f"{self.name} #{self.sequence}"
