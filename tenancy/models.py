"""Organizations (tenants) and who belongs to them with which role.

The tables are the ones the flags app created before tenancy had an app of its own
(``flags_organization``, ``flags_membership``); see migrations/0001_initial.py.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Organization(models.Model):
    """A tenant (a "company" in the dashboards' vocabulary)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    streaming_enabled = models.BooleanField(
        default=True, help_text="Live company updates (/stream/updates). Off: its streams are "
                                "refused (403 streaming_disabled) and open ones end.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "flags_organization"
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "flags_membership"
        constraints = [models.UniqueConstraint(fields=["user", "organization"],
                                               name="membership_unique_user_org")]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class APIKeyScope(models.TextChoices):
    INGEST = "ingest", "ingest (POST /api/ingest)"
    UPLOAD = "upload", "upload (POST /api/sessions/upload)"
    READ = "read", "read (sessions and their streams)"
    PUBLISH = "publish", "publish (POST /stream/publish)"
    AGENT = "agent", "agent (agent-to-agent task messages)"


API_KEY_PREFIX = "ap_live_"


def api_key_hash(raw_key: str) -> str:
    """What is stored of an organization API key: the SHA-256 of its secret."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class SecretKey(models.Model):
    """What every key with a secret has (environment keys, organization API keys): only a
    SHA-256 hash of the secret is stored; a key is revoked at once or, when rotated, expires
    after a grace period."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Set when the key is rotated: end of its grace period.")
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        abstract = True

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or self.expires_at > now

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at:
            return "active until expiry" if self.is_active() else "expired"
        return "active"

    @classmethod
    def inactive_ids(cls, ids) -> set[int]:
        """Which of ``ids`` are revoked, expired or gone (what a stream re-check asks)."""
        ids = set(ids)
        now = timezone.now()
        active = cls.objects.filter(id__in=ids).filter(
            models.Q(revoked_at__isnull=True) | models.Q(revoked_at__gt=now)).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
        return ids - set(active.values_list("id", flat=True))


class APIKey(SecretKey):
    """An organization's key for services and agent CLIs (``ap_live_…``), with scopes.

    The secret is shown once, when created.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    scopes = models.JSONField(default=list)
    display_prefix = models.CharField(max_length=20, editable=False,
                                      help_text="The first characters, to recognise the key.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.display_prefix}… ({self.organization})"
