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


def audit_diff(before: Any, after: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """What an audit entry changed, field by field: ``[(dotted.path, before, after), …]``.

    Objects are compared key by key (nested objects too), lists of objects (rules, variants)
    item by item (``rules.2``); anything else as a whole. A field only in ``after`` was added
    (before is None), only in ``before`` removed.
    """
    if isinstance(before, dict) or isinstance(after, dict):
        if before is None:
            before = {}  # created: every field is new
        if after is None:
            after = {}  # deleted: every field is gone
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in list(before) + [k for k in after if k not in before]:
            path = f"{prefix}.{key}" if prefix else str(key)
            changes += audit_diff(before.get(key), after.get(key), path)
        return changes
    if (isinstance(before, list) and isinstance(after, list)
            and any(isinstance(item, dict) for item in before + after)):
        changes = []
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else None
            new = after[index] if index < len(after) else None
            path = f"{prefix}.{index}"
            if isinstance(old, dict) and isinstance(new, dict):
                changes += audit_diff(old, new, path)
            elif old != new:
                changes.append((path, old, new))
        return changes
    if before == after:
        return []
    return [(prefix or "value", before, after)]
