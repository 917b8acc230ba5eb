"""Input and output shapes of the management API (camelCase JSON)."""

from __future__ import annotations

from rest_framework import serializers

from tenancy.api.serializers import AwareDateTimeField, StrictBooleanField, StrictInput

from ..models import (
    AuditLog,
    Environment,
    Flag,
    FlagKind,
    FlagState,
    Project,
    ScheduledChange,
    ScheduledChangeType,
    SDKKey,
    Segment,
)


# --- input ----------------------------------------------------------------------------------

class ProjectCreateInput(StrictInput):
    organization = serializers.CharField(required=False)
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class EnvironmentCreateInput(StrictInput):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SDKKeyCreateInput(StrictInput):
    kind = serializers.ChoiceField(choices=["server", "client"])
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SDKKeyRotateInput(StrictInput):
    graceSeconds = serializers.IntegerField(required=False, min_value=0)


class FlagCreateInput(StrictInput):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=FlagKind.values, required=False,
                                   default=FlagKind.BOOLEAN)
    variants = serializers.JSONField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)


class FlagUpdateInput(StrictInput):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    variants = serializers.JSONField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    archived = StrictBooleanField(required=False)

    def validate(self, attrs):
        if isinstance(self.initial_data, dict) and "kind" in self.initial_data:
            raise serializers.ValidationError(
                {"kind": ["cannot be changed; create a new flag of the other kind"]})
        return super().validate(attrs)


class FlagStateUpdateInput(StrictInput):
    enabled = StrictBooleanField(required=False)
    offVariant = serializers.CharField(required=False)
    rules = serializers.JSONField(required=False)
    defaultRule = serializers.JSONField(required=False)
    prerequisites = serializers.JSONField(required=False)


class SegmentCreateInput(StrictInput):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    constraints = serializers.JSONField(required=False)


class SegmentUpdateInput(StrictInput):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    constraints = serializers.JSONField(required=False)


class ScheduledChangeInput(StrictInput):
    scheduledAt = AwareDateTimeField()
    changeType = serializers.ChoiceField(choices=ScheduledChangeType.values)
    payload = serializers.JSONField(required=False)


# --- output ---------------------------------------------------------------------------------

class ProjectOutput(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.slug")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Project
        fields = ["organization", "key", "name", "createdAt"]


class EnvironmentOutput(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Environment
        fields = ["project", "key", "name", "createdAt"]


class SDKKeyOutput(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.key")
    prefix = serializers.CharField(source="display_prefix")
    active = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)

    class Meta:
        model = SDKKey
        fields = ["id", "environment", "kind", "name", "prefix", "active", "createdAt",
                  "revokedAt", "expiresAt"]

    def get_active(self, obj) -> bool:
        return obj.is_active()


class FlagStateSummary(serializers.ModelSerializer):
    class Meta:
        model = FlagState
        fields = ["enabled", "version"]


class FlagOutput(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key")
    tags = serializers.SerializerMethodField()
    environments = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Flag
        fields = ["project", "key", "name", "description", "kind", "variants", "tags", "salt",
                  "archived", "environments", "createdAt", "updatedAt"]

    def get_tags(self, obj) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())

    def get_environments(self, obj) -> dict:
        return {state.environment.key: {"enabled": state.enabled, "version": state.version}
                for state in obj.states.all()}


class FlagStateOutput(serializers.ModelSerializer):
    flag = serializers.CharField(source="flag.key")
    environment = serializers.CharField(source="environment.key")
    offVariant = serializers.CharField(source="off_variant")
    defaultRule = serializers.JSONField(source="default_rule")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = FlagState
        fields = ["flag", "environment", "enabled", "offVariant", "rules", "defaultRule",
                  "prerequisites", "version", "updatedAt"]


class SegmentOutput(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Segment
        fields = ["key", "name", "description", "constraints", "createdAt", "updatedAt"]


class AuditOutput(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.key", default=None, allow_null=True)
    actor = serializers.CharField(source="actor_label")
    remoteAddr = serializers.CharField(source="remote_addr", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = AuditLog
        fields = ["id", "action", "subject", "environment", "source", "actor", "remoteAddr",
                  "before", "after", "createdAt"]


class ScheduledChangeOutput(serializers.ModelSerializer):
    flag = serializers.CharField(source="flag_key")
    environment = serializers.CharField(source="environment_key")
    scheduledAt = serializers.DateTimeField(source="scheduled_at")
    changeType = serializers.CharField(source="change_type")
    createdAt = serializers.DateTimeField(source="created_at")
    createdFrom = serializers.CharField(source="created_from")
    finishedAt = serializers.DateTimeField(source="finished_at")
    latenessMs = serializers.IntegerField(source="lateness_ms")

    class Meta:
        model = ScheduledChange
        fields = ["id", "flag", "environment", "scheduledAt", "changeType", "payload", "status",
                  "createdAt", "createdFrom", "finishedAt", "latenessMs", "reason"]
