"""Django admin for staff. Every flag, state, segment and key edit goes through the services,
so that it is validated, audited (source ``admin``) and published like any other change."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import services
from .audit import Actor
from .models import (
    AuditLog,
    ChangeSource,
    Environment,
    Flag,
    FlagState,
    Membership,
    Organization,
    Project,
    ScheduledChange,
    ScheduledChangeStatus,
    SDKKey,
    Segment,
)


def admin_actor(request) -> Actor:
    return Actor.from_request(request, source=ChangeSource.ADMIN)


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict) -> None:
    """Show a service's ValidationError on the form field it names (or the whole form)."""
    for path, messages_ in services.validation_error_fields(error).items():
        head = path.split(".")[0]
        field = field_map.get(head)
        text = "; ".join(messages_) if path == head else f"{path}: {'; '.join(messages_)}"
        form.add_error(field if field in form.fields else None, text)


class TenantScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see and pick only objects of their own organizations."""

    organization_path = "organization"

    def member_organizations(self, request):
        return Organization.objects.filter(memberships__user=request.user)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_path}__in":
                                  self.member_organizations(request)}).distinct()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            paths = {Organization: "pk__in", Project: "organization__in",
                     Environment: "project__organization__in"}
            if db_field.related_model in paths:
                kwargs["queryset"] = db_field.related_model.objects.filter(
                    **{paths[db_field.related_model]: self.member_organizations(request)})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def adopt_saved(obj, form) -> None:
    """Make the admin's in-memory object the row the service saved during validation."""
    saved = form.saved_object
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


# --- Tenancy --------------------------------------------------------------------------------

class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    organization_path = "pk"
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__slug"]


@admin.register(Project)
class ProjectAdmin(TenantScopedAdmin):
    list_display = ["key", "name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["key", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "key"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
        else:
            created = services.project_create(organization=obj.organization, key=obj.key,
                                              name=obj.name, actor=admin_actor(request))
            obj.pk = created.pk


@admin.register(Environment)
class EnvironmentAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    list_display = ["key", "name", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["key", "name", "project__key"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
        else:
            created = services.environment_create(project=obj.project, key=obj.key,
                                                  name=obj.name, actor=admin_actor(request))
            obj.pk = created.pk


@admin.register(SDKKey)
class SDKKeyAdmin(TenantScopedAdmin):
    """Keys are created, rotated and revoked here; the secret is shown once, in a message."""

    organization_path = "environment__project__organization"

    list_display = ["display_prefix", "environment", "kind", "name", "status", "created_at",
                    "expires_at"]
    list_filter = ["kind", "environment__project", "environment"]
    search_fields = ["display_prefix", "name"]
    fields = ["environment", "kind", "name"]
    actions = ["revoke_keys", "rotate_keys"]

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["environment", "kind", "display_prefix", "created_at", "created_by",
                    "revoked_at", "expires_at", "replaced_by"]
        return []

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) + ["name"] if obj else self.fields

    @admin.display(description="status")
    def status(self, obj):
        if obj.revoked_at:
            return "revoked"
        if obj.expires_at:
            return "active until expiry" if obj.is_active() else "expired"
        return "active"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        created, raw_key = services.sdk_key_create(environment=obj.environment, kind=obj.kind,
                                                   name=obj.name, actor=admin_actor(request))
        obj.pk = created.pk
        messages.warning(request, f"New {created.kind} key for {created.environment}: {raw_key} "
                                  "— copy it now, it will not be shown again.")

    @admin.action(description="Revoke selected keys now")
    def revoke_keys(self, request, queryset):
        for sdk_key in queryset:
            services.sdk_key_revoke(sdk_key=sdk_key, actor=admin_actor(request))
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    @admin.action(description="Rotate selected keys (old ones keep working for the grace period)")
    def rotate_keys(self, request, queryset):
        for sdk_key in queryset:
            if not sdk_key.is_active():
                self.message_user(request, f"{sdk_key} is not active; not rotated.",
                                  messages.ERROR)
                continue
            new_key, raw_key = services.sdk_key_rotate(sdk_key=sdk_key, actor=admin_actor(request))
            messages.warning(request, f"Replacement for {sdk_key.display_prefix}…: {raw_key} — "
                                      "copy it now, it will not be shown again.")


# --- Flags ----------------------------------------------------------------------------------

class FlagAdminForm(forms.ModelForm):
    tag_names = forms.CharField(label="Tags", required=False,
                                help_text="Comma-separated, e.g. checkout, ui")

    class Meta:
        model = Flag
        fields = ["project", "key", "name", "description", "kind", "variants", "archived"]
        help_texts = {"variants": 'A list such as [{"key": "red", "value": "red"}]. '
                                  "Boolean flags may leave it empty for true/false."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variants"].required = False
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(
                sorted(t.name for t in self.instance.tags.all()))

    def clean_tag_names(self):
        return [name.strip() for name in self.cleaned_data["tag_names"].split(",") if name.strip()]


class FlagStateInline(admin.TabularInline):
    """Each environment's on/off, version and rules, on the flag's page."""

    model = FlagState
    extra = 0
    can_delete = False
    fields = ["environment", "enabled", "version", "rules_summary", "edit"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="rules")
    def rules_summary(self, state):
        return format_state_rules(state)

    @admin.display(description="")
    def edit(self, state):
        url = reverse("admin:flags_flagstate_change", args=[state.pk])
        return format_html('<a href="{}">Edit targeting</a>', url)


class AuditInline(admin.TabularInline):
    """The flag's audit trail, newest first."""

    model = AuditLog
    fk_name = "flag"
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["created_at", "action", "environment", "source", "actor_label", "change"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "audit trail"

    @admin.display(description="before → after")
    def change(self, entry):
        return format_html("<code>{}</code><br>→ <code>{}</code>",
                           json.dumps(entry.before)[:300], json.dumps(entry.after)[:300])


def format_condition(constraint: dict) -> str:
    if constraint.get("operator") == "segment_match":
        return f"in segment {', '.join(map(str, constraint.get('values', [])))}"
    values = constraint.get("values")
    shown = "" if values is None else " [" + ", ".join(map(str, values)) + "]"
    return f"{constraint.get('attribute')} {constraint.get('operator')}{shown}"


def format_outcome(rule: dict) -> str:
    if rule.get("variant") is not None:
        return rule["variant"]
    return " / ".join(f"{p.get('variant')} {p.get('weight')}%" for p in rule.get("distribution", []))


def format_state_rules(state: FlagState):
    rows = [(" and ".join(format_condition(c) for c in rule.get("constraints", [])) or "everyone",
             format_outcome(rule)) for rule in state.rules]
    rows.append(("otherwise", format_outcome(state.default_rule)))
    return format_html("<ol>{}</ol>", format_html_join("", "<li>{} → <b>{}</b></li>", rows))


@admin.register(Flag)
class FlagAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    form = FlagAdminForm
    list_display = ["key", "name", "project", "kind", "tag_list", "environments", "archived"]
    list_filter = ["project", "kind", "archived", "tags__name"]
    search_fields = ["key", "name", "description", "tags__name"]
    inlines = [FlagStateInline, AuditInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("project").prefetch_related(
            "tags", "states__environment")

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key", "kind", "salt"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["project", "key", "name", "description", "kind", "variants", "tag_names",
                  "archived"]
        return fields + ["salt"] if obj else fields

    @admin.display(description="tags")
    def tag_list(self, flag):
        return ", ".join(sorted(tag.name for tag in flag.tags.all()))

    @admin.display(description="environments")
    def environments(self, flag):
        return format_html_join(" · ", "{}: <b>{}</b> v{}", (
            (state.environment.key, "ON" if state.enabled else "off", state.version)
            for state in flag.states.all()))

    def get_actions(self, request):
        """Plus one 'turn on/off in <environment>' action per environment key."""
        actions = super().get_actions(request)
        for env_key in Environment.objects.values_list("key", flat=True).distinct():
            for enabled in (True, False):
                name = f"turn_{'on' if enabled else 'off'}_{env_key}"
                description = f"Turn {'on' if enabled else 'off'} in {env_key}"
                actions[name] = (self._toggle_action(env_key, enabled), name, description)
        return actions

    @staticmethod
    def _toggle_action(env_key: str, enabled: bool):
        def toggle(modeladmin, request, queryset):
            states = FlagState.objects.filter(flag__in=queryset, environment__key=env_key)
            for state in states:
                services.flag_state_update(state=state, enabled=enabled, actor=admin_actor(request))
            modeladmin.message_user(request, f"Turned {'on' if enabled else 'off'} "
                                             f"{states.count()} flag(s) in {env_key}.")
        return toggle

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors:
                    return
                data = self.cleaned_data
                try:
                    if obj is None:
                        self.saved_object = services.flag_create(
                            project=data["project"], key=data["key"], name=data.get("name", ""),
                            kind=data["kind"], variants=data.get("variants") or None,
                            description=data.get("description", ""), tags=data["tag_names"],
                            actor=admin_actor(request))
                    else:
                        self.saved_object = services.flag_update(
                            flag=obj, name=data.get("name", ""),
                            description=data.get("description", ""),
                            variants=data.get("variants") or obj.variants,
                            tags=data["tag_names"], archived=data.get("archived", False),
                            actor=admin_actor(request))
                except ValidationError as exc:
                    add_service_errors(self, exc, {"variants": "variants", "key": "key",
                                                   "kind": "kind", "tags": "tag_names"})

        return ServiceForm

    def save_model(self, request, obj, form, change):
        # The service already wrote it while validating the form (see get_form).
        adopt_saved(obj, form)

    def save_related(self, request, form, formsets, change):
        # Tags went through the service and the inlines are read-only: write nothing, but let
        # the formsets record that nothing changed (the admin's change message reads that).
        for formset in formsets:
            formset.save(commit=False)


class FlagStateAdminForm(forms.ModelForm):
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = FlagState
        fields = ["enabled", "off_variant", "rules", "default_rule", "prerequisites"]
        help_texts = {
            "rules": 'Ordered. E.g. [{"constraints": [{"attribute": "country", "operator": '
                     '"in", "values": ["US"]}], "variant": "green"}]',
            "default_rule": '{"variant": "red"} or {"distribution": [{"variant": "a", '
                            '"weight": 50}, {"variant": "b", "weight": 50}]}',
            "prerequisites": '[{"flag": "other-flag", "variant": "true"}]',
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["loaded_version"].initial = self.instance.version
        for name in ("rules", "prerequisites"):
            self.fields[name].required = False


class ScheduledChangeInline(admin.TabularInline):
    """This state's scheduled changes, upcoming first (create and cancel on their own page)."""

    model = ScheduledChange
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["scheduled_at", "change_type", "payload", "status", "finished_at", "lateness_ms",
              "reason"]
    readonly_fields = fields
    ordering = ["-scheduled_at"]


@admin.register(FlagState)
class FlagStateAdmin(TenantScopedAdmin):
    """A flag's targeting in one environment: on/off, rules, default rule, prerequisites."""

    organization_path = "environment__project__organization"

    form = FlagStateAdminForm
    list_display = ["flag", "environment", "enabled", "version", "updated_at"]
    list_filter = ["environment__project", "environment__key", "enabled"]
    search_fields = ["flag__key"]
    readonly_fields = ["flag", "environment", "version", "rules_preview"]
    fields = ["flag", "environment", "version", "enabled", "off_variant", "rules",
              "rules_preview", "default_rule", "prerequisites", "loaded_version"]
    actions = ["turn_on", "turn_off"]
    inlines = [ScheduledChangeInline]

    def has_add_permission(self, request):
        return False  # states exist for every flag and environment

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="rules, as served")
    def rules_preview(self, state):
        return format_state_rules(state)

    @admin.action(description="Turn on")
    def turn_on(self, request, queryset):
        for state in queryset:
            services.flag_state_update(state=state, enabled=True, actor=admin_actor(request))
        self.message_user(request, f"Turned on {queryset.count()} flag state(s).")

    @admin.action(description="Turn off")
    def turn_off(self, request, queryset):
        for state in queryset:
            services.flag_state_update(state=state, enabled=False, actor=admin_actor(request))
        self.message_user(request, f"Turned off {queryset.count()} flag state(s).")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors or obj is None:
                    return
                data = self.cleaned_data
                try:
                    services.flag_state_update(
                        state=obj, actor=admin_actor(request),
                        expected_version=data.get("loaded_version"),
                        enabled=data["enabled"], off_variant=data["off_variant"],
                        rules=data.get("rules") or [], default_rule=data["default_rule"],
                        prerequisites=data.get("prerequisites") or [])
                except ValidationError as exc:
                    add_service_errors(self, exc, {"rules": "rules", "defaultRule": "default_rule",
                                                   "offVariant": "off_variant",
                                                   "prerequisites": "prerequisites",
                                                   "enabled": "enabled"})
                except services.VersionMismatch as exc:
                    self.add_error(None, f"Someone else changed this state meanwhile (now version "
                                         f"{exc.current}). Reload the page and apply your change again.")

        return ServiceForm

    def save_model(self, request, obj, form, change):
        pass  # the service saved it while validating the form

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            formset.save(commit=False)  # read-only inlines: nothing to write


class ScheduledChangeAdminForm(forms.ModelForm):
    class Meta:
        model = ScheduledChange
        fields = ["state", "scheduled_at", "change_type", "payload"]
        help_texts = {"payload": 'enable/disable: {}; set_default_variant: {"variant": "green"}; '
                                 'set_rollout: {"distribution": [{"variant": "true", '
                                 '"weight": 50}, ...]}; update: any state fields'}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payload"].required = False


@admin.register(ScheduledChange)
class ScheduledChangeAdmin(TenantScopedAdmin):
    """Upcoming and past scheduled changes; schedule one, cancel pending ones."""

    organization_path = "state__environment__project__organization"
    form = ScheduledChangeAdminForm
    list_display = ["scheduled_at", "flag_key", "environment_key", "change_type", "status",
                    "finished_at", "lateness_ms"]
    list_filter = ["status", "change_type", "environment_key", "state__flag__project"]
    search_fields = ["flag_key"]
    date_hierarchy = "scheduled_at"
    actions = ["cancel_changes"]

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["flag_key", "environment_key", "state", "scheduled_at", "change_type",
                    "payload", "status", "created_at",
                    "created_from", "created_by", "finished_at", "lateness_ms", "reason"]
        return []

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj else super().get_fields(request)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the record stays

    def get_form(self, request, obj=None, change=False, **kwargs):
        from .scheduling import scheduled_change_create

        form_class = super().get_form(request, obj, change=change, **kwargs)

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors or obj is not None:
                    return
                data = self.cleaned_data
                try:
                    self.saved_object = scheduled_change_create(
                        state=data["state"], scheduled_at=data["scheduled_at"],
                        change_type=data["change_type"], payload=data.get("payload") or {},
                        actor=admin_actor(request))
                except ValidationError as exc:
                    add_service_errors(self, exc, {"scheduledAt": "scheduled_at",
                                                   "changeType": "change_type",
                                                   "payload": "payload"})

        return ServiceForm

    def save_model(self, request, obj, form, change):
        if not change:
            adopt_saved(obj, form)

    @admin.action(description="Cancel selected pending changes")
    def cancel_changes(self, request, queryset):
        from .exceptions import ConflictError
        from .scheduling import scheduled_change_cancel

        cancelled = 0
        for change in queryset.filter(status=ScheduledChangeStatus.PENDING):
            try:
                scheduled_change_cancel(change=change, actor=admin_actor(request))
                cancelled += 1
            except ConflictError:
                pass  # applied meanwhile
        self.message_user(request, f"Cancelled {cancelled} change(s).")


class SegmentAdminForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["project", "key", "name", "description", "constraints"]


@admin.register(Segment)
class SegmentAdmin(TenantScopedAdmin):
    organization_path = "project__organization"
    form = SegmentAdminForm
    list_display = ["key", "name", "project", "updated_at"]
    list_filter = ["project"]
    search_fields = ["key", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key"] if obj else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors:
                    return
                data = self.cleaned_data
                try:
                    if obj is None:
                        self.saved_object = services.segment_create(
                            project=data["project"], key=data["key"], name=data.get("name", ""),
                            description=data.get("description", ""),
                            constraints=data.get("constraints") or [], actor=admin_actor(request))
                    else:
                        self.saved_object = services.segment_update(
                            segment=obj, name=data.get("name", ""),
                            description=data.get("description", ""),
                            constraints=data.get("constraints") or [], actor=admin_actor(request))
                except ValidationError as exc:
                    add_service_errors(self, exc, {"constraints": "constraints", "key": "key"})

        return ServiceForm

    def save_model(self, request, obj, form, change):
        adopt_saved(obj, form)

    def delete_model(self, request, obj):
        services.segment_delete(segment=obj, actor=admin_actor(request))


@admin.register(AuditLog)
class AuditLogAdmin(TenantScopedAdmin):
    list_display = ["created_at", "action", "subject", "project", "environment", "source",
                    "actor_label", "remote_addr"]
    list_filter = ["source", "action", "project"]
    search_fields = ["subject", "actor_label"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
