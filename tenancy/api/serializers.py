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
