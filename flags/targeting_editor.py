"""The admin's targeting editor: rules, default rule, prerequisites, variants and segment
conditions edited as forms instead of JSON.

Each such field stays a JSON textarea (what is posted, and the "Edit as JSON" view); a small
static script (``flags/static/flags/targeting.js``) draws the editor over it from the options
given here and writes the JSON back on every change. The server validates exactly what the
API validates; the errors it names (``rules.1.distribution``) are shown on the rule and the
input they point at, and in words ("Rule 2 › split").
"""

from __future__ import annotations

import json

from django import forms
from flagstream.operators import OPERATORS

from .models import Flag, FlagState, Segment

# (value input, group label, [(operator, label)]): the order and words of the operator menu.
OPERATOR_MENU = [
    ("list", "Text", [("eq", "is"), ("neq", "is not"), ("in", "is one of"),
                      ("not_in", "is not one of"), ("contains", "contains"),
                      ("not_contains", "does not contain"), ("starts_with", "starts with"),
                      ("ends_with", "ends with")]),
    ("regex", "Pattern", [("regex", "matches regex")]),
    ("number", "Number", [("lt", "<"), ("lte", "≤"), ("gt", ">"), ("gte", "≥")]),
    ("semver", "Version", [("semver_eq", "version ="), ("semver_lt", "version <"),
                           ("semver_gt", "version >")]),
    ("date", "Date and time", [("before", "is before"), ("after", "is after")]),
    ("none", "Presence", [("exists", "is set"), ("not_exists", "is not set")]),
    ("segment", "Segment", [("segment_match", "is in segment")]),
]
OPERATOR_LABELS = {op: label for _, _, ops in OPERATOR_MENU for op, label in ops}
assert set(OPERATOR_LABELS) == OPERATORS, "the menu lists every operator the engine has"

# A list's name, and one item's (``rules.2`` is "rule 3"); other fields' names in words.
ITEM_WORDS = {"rules": "rule", "constraints": "condition", "distribution": "split",
              "prerequisites": "prerequisite", "variants": "variant", "values": "value"}
FIELD_WORDS = {"distribution": "split", "defaultRule": "default rule",
               "offVariant": "off variant"}


def describe_path(path: str) -> str:
    """``rules.1.distribution.0.weight`` → ``Rule 2 › split 1 › weight``."""
    parts = path.split(".")
    words: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        word = FIELD_WORDS.get(part, part)
        if index + 1 < len(parts) and parts[index + 1].isdigit():
            word = f"{ITEM_WORDS.get(part, part)} {int(parts[index + 1]) + 1}"
            index += 1
        words.append(word)
        index += 1
    text = " › ".join(words)
    return text[:1].upper() + text[1:]


class TargetingWidget(forms.Textarea):
    """A JSON textarea the targeting script turns into an editor for ``part``."""

    class Media:
        js = ["flags/targeting.js"]
        css = {"all": ["flags/targeting.css"]}

    def __init__(self, part: str, options: dict | None = None):
        super().__init__(attrs={"rows": 8, "class": "vLargeTextField targeting-json"})
        self.part = part
        self.options = options or {}
        self.errors: list[dict] = []

    def add_error(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].update({
            "data-targeting": self.part,
            "data-options": json.dumps({"operators": OPERATOR_MENU, **self.options}),
            "data-errors": json.dumps(self.errors),
        })
        return context


def _attributes(project_id: int) -> list[str]:
    """Attribute names the project's rules and segments already use: the editor suggests them."""
    seen = {"targetingKey"}
    for rules in FlagState.objects.filter(flag__project_id=project_id).values_list("rules",
                                                                                  flat=True):
        for rule in rules or []:
            seen.update(c.get("attribute") for c in rule.get("constraints") or []
                        if isinstance(c, dict))
    for constraints in Segment.objects.filter(project_id=project_id).values_list("constraints",
                                                                                flat=True):
        seen.update(c.get("attribute") for c in constraints or [] if isinstance(c, dict))
    return sorted(name for name in seen if isinstance(name, str) and name)


def state_widgets(state: FlagState) -> dict[str, TargetingWidget]:
    """The editors of a flag state's form, by form field."""
    flag = state.flag
    project_id = flag.project_id
    options = {"variants": [v["key"] for v in flag.variants],
               "segments": list(Segment.objects.filter(project_id=project_id)
                                .values_list("key", flat=True)),
               "attributes": _attributes(project_id)}
    others = {key: [v["key"] for v in variants] for key, variants in
              Flag.objects.filter(project_id=project_id).exclude(pk=flag.pk)
              .values_list("key", "variants")}
    return {"rules": TargetingWidget("rules", options),
            "default_rule": TargetingWidget("defaultRule", options),
            "prerequisites": TargetingWidget("prerequisites", {"flags": others})}


def variants_widget(flag: Flag | None) -> TargetingWidget:
    return TargetingWidget("variants", {"kind": flag.kind if flag else None})


def constraints_widget(project_id: int | None) -> TargetingWidget:
    return TargetingWidget("constraints", {
        "segments": [], "attributes": _attributes(project_id) if project_id else ["targetingKey"]})
