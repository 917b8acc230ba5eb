"""Projects, environments, keys and the flag domain (organizations are ``tenancy``'s).

Models hold data and invariants only; every write goes through ``flags.services``.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from tenancy.models import Organization, SecretKey

KEY_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
    "Use letters, digits, '-', '_' or '.', starting with a letter or digit (at most 100).",
)


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="projects")
    key = models.CharField(max_length=100, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__slug", "key"]
        constraints = [models.UniqueConstraint(fields=["organization", "key"],
                                               name="project_unique_key_per_org")]

    def __str__(self):
        return f"{self.organization.slug}/{self.key}"


class Environment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    key = models.CharField(max_length=100, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project_id", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "key"],
                                               name="environment_unique_key_per_project")]

    def __str__(self):
        return f"{self.project}/{self.key}"


class SDKKeyKind(models.TextChoices):
    SERVER = "server", "Server (srv-)"
    CLIENT = "client", "Client (cli-, read-only)"


SDK_KEY_PREFIX = {SDKKeyKind.SERVER: "srv-", SDKKeyKind.CLIENT: "cli-"}


def sdk_key_hash(raw_key: str) -> str:
    """What is stored of an environment key: the SHA-256 of its secret, never the secret."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class SDKKey(SecretKey):
    """An environment key. Only a SHA-256 hash of the secret is stored."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="sdk_keys")
    kind = models.CharField(max_length=10, choices=SDKKeyKind.choices)
    name = models.CharField(max_length=200, blank=True)
    display_prefix = models.CharField(max_length=16, editable=False,
                                      help_text="The first characters, to recognise the key.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SDK key"

    def __str__(self):
        return f"{self.display_prefix}… ({self.environment})"


class Tag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"],
                                               name="tag_unique_name_per_project")]

    def __str__(self):
        return self.name


class FlagKind(models.TextChoices):
    BOOLEAN = "boolean", "Boolean"
    STRING = "string", "String"
    NUMBER = "number", "Number"
    JSON = "json", "JSON"


class Flag(models.Model):
    """A flag of a project; ``variants`` is a list of ``{"key", "value", "name"?}``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flags")
    key = models.CharField(max_length=100, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=FlagKind.choices, default=FlagKind.BOOLEAN)
    variants = models.JSONField(default=list)
    tags = models.ManyToManyField(Tag, blank=True, related_name="flags")
    salt = models.CharField(max_length=32, help_text="Mixed into the bucketing hash.")
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"],
                                               name="flag_unique_key_per_project")]

    def __str__(self):
        return self.key

    def variant_values(self) -> dict:
        return {variant["key"]: variant["value"] for variant in self.variants}


class FlagState(models.Model):
    """A flag's targeting in one environment. ``version`` increases on every change."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="states")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE,
                                    related_name="flag_states")
    enabled = models.BooleanField(default=False)
    off_variant = models.CharField(max_length=100)
    rules = models.JSONField(default=list, blank=True)
    default_rule = models.JSONField(default=dict)
    prerequisites = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["flag__key", "environment_id"]
        constraints = [models.UniqueConstraint(fields=["flag", "environment"],
                                               name="flagstate_unique_flag_environment")]
        verbose_name = "flag state"

    def __str__(self):
        return f"{self.flag.key} in {self.environment.key}"


class Segment(models.Model):
    """A reusable audience: a context is in it when it satisfies every constraint."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="segments")
    key = models.CharField(max_length=100, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    constraints = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["project", "key"],
                                               name="segment_unique_key_per_project")]

    def __str__(self):
        return self.key


class ChangeSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    COMMAND = "command", "Command"
    SCHEDULER = "scheduler", "Scheduler"


class AuditLog(models.Model):
    """Who changed what, when and from where, with the state before and after."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    environment = models.ForeignKey(Environment, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    flag = models.ForeignKey(Flag, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="audit_entries")
    # Kept as text so that entries survive the deletion of what they describe.
    subject = models.CharField(max_length=200, help_text="What changed, e.g. flag key.")
    action = models.CharField(max_length=50)
    source = models.CharField(max_length=10, choices=ChangeSource.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["flag", "-created_at"])]

    def __str__(self):
        return f"{self.action} {self.subject} by {self.actor_label} via {self.source}"


class ScheduledChangeType(models.TextChoices):
    ENABLE = "enable", "Turn on"
    DISABLE = "disable", "Turn off"
    SET_DEFAULT_VARIANT = "set_default_variant", "Set default variant"
    SET_ROLLOUT = "set_rollout", "Set rollout (weights)"
    UPDATE = "update", "Update (any state patch)"


class ScheduledChangeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ScheduledChange(models.Model):
    """A change of one flag's state in one environment, applied once at ``scheduled_at``."""

    # Kept (as failed) when the flag is deleted, so the record of what was planned survives.
    state = models.ForeignKey(FlagState, null=True, on_delete=models.SET_NULL,
                              related_name="scheduled_changes")
    flag_key = models.CharField(max_length=100)
    environment_key = models.CharField(max_length=100)
    scheduled_at = models.DateTimeField()
    change_type = models.CharField(max_length=30, choices=ScheduledChangeType.choices)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ScheduledChangeStatus.choices,
                              default=ScheduledChangeStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_from = models.CharField(max_length=10, choices=ChangeSource.choices)
    finished_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When it was applied, failed or cancelled.")
    lateness_ms = models.IntegerField(null=True, blank=True,
                                      help_text="How long after its time it was applied.")
    reason = models.TextField(blank=True, help_text="Why it failed or was cancelled.")

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return (f"{self.change_type} {self.flag_key} in {self.environment_key} at "
                f"{self.scheduled_at:%Y-%m-%d %H:%M:%S}")
