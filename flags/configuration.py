"""The evaluation configuration documents: what the engine and the SDKs read.

One flag in one environment becomes the dict that ``flagstream.evaluation.CompiledFlag`` reads;
an environment becomes ``{"flags": {...}, "segments": {...}}``.
"""

from __future__ import annotations

from .models import Flag, FlagState, Segment


def flag_state_document(state: FlagState, flag: Flag | None = None,
                        tags: list[str] | None = None) -> dict:
    """The engine's view of ``flag`` in the environment of ``state``."""
    flag = flag or state.flag
    if tags is None:
        tags = sorted(tag.name for tag in flag.tags.all())
    return {
        "key": flag.key,
        "kind": flag.kind,
        "version": state.version,
        "enabled": state.enabled,
        "salt": flag.salt,
        "variants": flag.variant_values(),
        "offVariant": state.off_variant,
        "rules": state.rules,
        "defaultRule": state.default_rule,
        "prerequisites": state.prerequisites,
        "tags": tags,
    }


def segment_document(segment: Segment) -> dict:
    return {"key": segment.key, "name": segment.name, "constraints": segment.constraints}


def environment_document(environment) -> dict:
    """Every live (non-archived) flag and every segment of ``environment``."""
    states = (
        FlagState.objects.filter(environment=environment, flag__archived=False)
        .select_related("flag")
        .prefetch_related("flag__tags")
    )
    segments = Segment.objects.filter(project_id=environment.project_id)
    return {
        "flags": {state.flag.key: flag_state_document(state) for state in states},
        "segments": {segment.key: segment_document(segment) for segment in segments},
    }
