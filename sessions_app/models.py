"""Agent conversations (sessions): who took part, what they said, and every event received.

A conversation arrives either live, event by event, from an agent CLI's bridge (source
``stream``, ``POST /api/ingest``) or whole (source ``upload``, ``POST /api/sessions/upload``).
``client_id`` is the id the client gave it (the CLI's ``conversation_id``, an upload's
``originalId``); ours is the row id.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.models import APIKey, Organization


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    INTERRUPTED = "interrupted", "Interrupted"
    ERROR = "error", "Error"


class ConversationSource(models.TextChoices):
    STREAM = "stream", "Stream (live ingest)"
    UPLOAD = "upload", "Upload"


class Conversation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="conversations")
    client_id = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=ConversationSource.choices)
    mode = models.CharField(max_length=50, blank=True)
    initial_prompt = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=ConversationStatus.choices,
                              default=ConversationStatus.ACTIVE)
    # Created by a message that arrived before conversation.started; started fills it in.
    placeholder = models.BooleanField(default=False)
    max_turns = models.PositiveIntegerField(null=True, blank=True)
    system_info = models.JSONField(null=True, blank=True)
    command = models.JSONField(null=True, blank=True)
    # What the client reported when the conversation ended (conversation.completed).
    total_messages = models.PositiveIntegerField(null=True, blank=True)
    total_turns = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    total_cost = models.FloatField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    summary = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)  # conversation.error events, by time
    message_count = models.PositiveIntegerField(default=0)  # messages stored
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["organization", "source", "client_id"],
                                               name="conversation_unique_client_id")]
        indexes = [
            models.Index(fields=["organization", "-started_at"], name="conv_org_started"),
            models.Index(fields=["organization", "status", "-started_at"],
                         name="conv_org_status_started"),
            models.Index(fields=["organization", "source", "-started_at"],
                         name="conv_org_source_started"),
        ]

    def __str__(self):
        return self.client_id

    @property
    def finished(self) -> bool:
        return self.status in (ConversationStatus.COMPLETED, ConversationStatus.INTERRUPTED)


class Participant(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="participants")
    agent_id = models.CharField(max_length=200)
    agent_type = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    cli_version = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["conversation", "agent_id"],
                                               name="participant_unique_agent")]

    def __str__(self):
        return self.name or self.agent_id


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="messages")
    client_id = models.CharField(max_length=200)
    agent_id = models.CharField(max_length=200)
    agent_type = models.CharField(max_length=100, blank=True)
    agent_name = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True)
    sequence_number = models.PositiveIntegerField(default=0)
    turn_number = models.PositiveIntegerField(null=True, blank=True)
    tokens_used = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()  # the client's timestamp
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sequence_number", "created_at", "client_id"]
        constraints = [models.UniqueConstraint(fields=["conversation", "client_id"],
                                               name="message_unique_client_id")]
        indexes = [models.Index(fields=["conversation", "sequence_number", "created_at"],
                                name="message_order")]

    def __str__(self):
        return self.client_id


class IngestEvent(models.Model):
    """Every event received on /api/ingest, as sent, with the answer it got: a repeat of the
    same event (``event_key``) gets that answer again and changes nothing."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(APIKey, null=True, on_delete=models.SET_NULL, related_name="+")
    event_key = models.CharField(max_length=300)
    type = models.CharField(max_length=50)
    timestamp = models.DateTimeField()
    data = models.JSONField()
    conversation = models.ForeignKey(Conversation, null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="events")
    status_code = models.PositiveSmallIntegerField()
    answer = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "event_key"],
                                               name="ingest_event_unique_key")]
        verbose_name = "ingest event"

    def __str__(self):
        return f"{self.type} {self.event_key}"


# --- agent-to-agent tasks -------------------------------------------------------------------

class TaskState(models.TextChoices):
    """A2A task states; on the wire they are written TASK_STATE_<NAME>."""

    SUBMITTED = "submitted", "Submitted"
    WORKING = "working", "Working"
    INPUT_REQUIRED = "input_required", "Input required"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    AUTH_REQUIRED = "auth_required", "Auth required"


TERMINAL_TASK_STATES = (TaskState.COMPLETED, TaskState.CANCELED, TaskState.FAILED,
                        TaskState.REJECTED)


class TaskMessageKind(models.TextChoices):
    CHUNK = "chunk", "Chunk (partial output)"
    PROGRESS = "progress", "Progress"
    STATUS = "status", "Status"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"


class Task(models.Model):
    """Work handed to an agent of an organization; ``task_id`` may be chosen by the client."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="agent_tasks")
    agent = models.CharField(max_length=100)
    task_id = models.CharField(max_length=200)
    context_id = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=TaskState.choices,
                             default=TaskState.SUBMITTED)
    input = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL,
                                   related_name="+")
    last_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "agent", "task_id"],
                                               name="task_unique_id_per_agent")]

    def __str__(self):
        return f"{self.agent}/{self.task_id}"

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_TASK_STATES


class TaskMessage(models.Model):
    """One message of a task, numbered per task; gone after ``TASK_MESSAGE_TTL_MINUTES``."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="messages")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=TaskMessageKind.choices)
    content = models.TextField(blank=True)
    progress = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [models.UniqueConstraint(fields=["task", "sequence"],
                                               name="task_message_unique_sequence")]

    def __str__(self):
        return f"{self.task} #{self.sequence} {self.kind}"


class TaskStreamToken(models.Model):
    """A stream token issued for one task to one user (the JWT carries this row's id): a
    stream opened with it ends when it expires or the user loses access."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="stream_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"stream token {self.pk} of {self.task}"
