"""Who made a change and from where, and the audit entry every service writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import AuditLog, ChangeSource


@dataclass(frozen=True)
class Actor:
    """The author of a change: a user (or none, for the scheduler), the source and address."""

    source: str
    user: Any = None
    label: str = ""
    remote_addr: str | None = None

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if self.user is not None and getattr(self.user, "is_authenticated", False):
            return self.user.get_username()
        return self.source

    @classmethod
    def from_request(cls, request, source: str = ChangeSource.API) -> "Actor":
        user = request.user if request.user.is_authenticated else None
        return cls(source=source, user=user, remote_addr=request.META.get("REMOTE_ADDR"))

    @classmethod
    def command(cls, name: str) -> "Actor":
        return cls(source=ChangeSource.COMMAND, label=f"manage.py {name}")


def audit_entry(*, actor: Actor, organization, action: str, subject: str, project=None,
                environment=None, flag=None, before=None, after=None) -> AuditLog:
    """One audit entry, not yet saved (for ``bulk_create`` of several changes at once)."""
    return AuditLog(
        organization=organization,
        project=project,
        environment=environment,
        flag=flag,
        subject=subject,
        action=action,
        source=actor.source,
        actor=actor.user,
        actor_label=actor.display,
        remote_addr=actor.remote_addr,
        before=before,
        after=after,
    )


def audit_record(**fields) -> AuditLog:
    """Write one audit entry (inside the caller's transaction); arguments of audit_entry."""
    entry = audit_entry(**fields)
    entry.save()
    return entry
