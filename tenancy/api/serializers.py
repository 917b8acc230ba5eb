"""Input shapes shared by every app's API, and the token endpoints' own."""

from __future__ import annotations

from rest_framework import serializers


class StrictInput(serializers.Serializer):
    """An input serializer that rejects fields it does not know (a typo is not ignored)."""

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return attrs


class TokenInput(StrictInput):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class RefreshInput(StrictInput):
    refresh = serializers.CharField()


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: "yes", 0 or "1" are mistakes, not booleans."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that says its timezone: a time without one is not taken as UTC."""

    default_error_messages = {"naive": "must include a timezone, e.g. 2026-12-01T09:00:00Z "
                                       "or 2026-12-01T09:00:00+01:00"}

    def to_internal_value(self, value):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is not None and parsed.tzinfo is None:
            self.fail("naive")
        return super().to_internal_value(value)
