"""The change events the flags app publishes (one contract, JSON-safe, versioned).

Every payload carries ``schema`` (the payload format), the flag key, the environment and the
state's new ``version`` so that a client can apply it without a re-fetch and drop stale ones.
"""

from __future__ import annotations

from django.utils import timezone

SCHEMA = 1

FLAG_CREATED = "flag_created"
FLAG_UPDATED = "flag_updated"
FLAG_DELETED = "flag_deleted"
FLAG_ENABLED = "flag_enabled"
FLAG_DISABLED = "flag_disabled"
SEGMENT_UPDATED = "segment_updated"
DISTRIBUTION_UPDATED = "distribution_updated"

EVENT_TYPES = (FLAG_CREATED, FLAG_UPDATED, FLAG_DELETED, FLAG_ENABLED, FLAG_DISABLED,
               SEGMENT_UPDATED, DISTRIBUTION_UPDATED)


def _base(event_type: str, environment) -> dict:
    return {
        "type": event_type,
        "schema": SCHEMA,
        "project": environment.project.key,
        "environment": environment.key,
        "changedAt": timezone.now().isoformat(),
    }


def flag_event(event_type: str, environment, document: dict) -> dict:
    """A created/updated/enabled/disabled/distribution event with the new flag document."""
    return {**_base(event_type, environment), "flagKey": document["key"],
            "version": document["version"], "tags": document.get("tags", []), "flag": document}


def flag_deleted_event(environment, flag_key: str, version: int, tags: list[str]) -> dict:
    return {**_base(FLAG_DELETED, environment), "flagKey": flag_key, "version": version,
            "tags": tags, "flag": None}


def segment_updated_event(environment, segment_key: str, segment: dict | None,
                          flag_keys: list[str], tags: list[str]) -> dict:
    """A segment changed (``segment`` is None when deleted); ``flags`` lists the flags using it
    and ``tags`` their tags, so that filtered streams can tell whether it concerns them."""
    return {**_base(SEGMENT_UPDATED, environment), "segmentKey": segment_key,
            "segment": segment, "flags": flag_keys, "tags": tags}


def _distributions(document: dict) -> list:
    rules = document.get("rules") or []
    return [rule.get("distribution") for rule in rules] + [
        (document.get("defaultRule") or {}).get("distribution")]


def state_change_type(before: dict, after: dict) -> str:
    """The most specific event type for a change of one flag state document."""
    ignored = ("version",)
    changed = {k for k in set(before) | set(after)
               if k not in ignored and before.get(k) != after.get(k)}
    if changed == {"enabled"}:
        return FLAG_ENABLED if after["enabled"] else FLAG_DISABLED
    if changed and changed <= {"rules", "defaultRule"}:
        strip = lambda doc: (  # noqa: E731 - the documents without their weights
            [{k: v for k, v in r.items() if k != "distribution"} for r in doc.get("rules") or []],
            {k: v for k, v in (doc.get("defaultRule") or {}).items() if k != "distribution"})
        if strip(before) == strip(after) and _distributions(before) != _distributions(after):
            return DISTRIBUTION_UPDATED
    return FLAG_UPDATED
