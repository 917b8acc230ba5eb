"""Django admin for staff. Every flag, state, segment and key edit goes through the services,
so that it is validated, audited (source ``admin``) and published like any other change."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.safestring import mark_safe

from tenancy.admin import TenantScopedAdmin

from . import services
from .audit import Actor, audit_diff
from .exceptions import ConflictError, VersionMismatch
from .models import (
    AuditLog,
    ChangeSource,
    Environment,
    Flag,
    FlagState,
    Project,
    ScheduledChange,
    ScheduledChangeStatus,
    SDKKey,
    Segment,
)
from .scheduling import scheduled_change_cancel, scheduled_change_create
from .targeting_editor import (
    OPERATOR_LABELS,
    TargetingWidget,
    constraints_widget,
    describe_path,
    state_widgets,
    variants_widget,
)


def admin_actor(request) -> Actor:
    return Actor.from_request(request, source=ChangeSource.ADMIN)


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict) -> None:
    """Show a service's ValidationError on the form field it names (or the whole form), in
    words ("Rule 2 › split: …"), and to a targeting editor on the rule and input it names."""
    for path, messages_ in services.validation_error_fields(error).items():
        head = path.split(".")[0]
        field = field_map.get(head)
        message = "; ".join(messages_)
        text = message if path == head else f"{describe_path(path)}: {message}"
        form.add_error(field if field in form.fields else None, text)
        widget = form.fields[field].widget if field in form.fields else None
        if isinstance(widget, TargetingWidget):
            widget.add_error(path, message)


class FlagsAdmin(TenantScopedAdmin):
    """Tenant-scoped, and every save is a service call.

    The service runs while the form is cleaned (``service_save``), so that what it rejects is
    shown on the form field it names (``service_fields`` maps the API's field names to the
    form's) and nothing is written; the admin's own save then only takes over the saved row.
    """

    scoped_relations = {**TenantScopedAdmin.scoped_relations,
                        Project: "organization__in",
                        Environment: "project__organization__in"}
    service_fields: dict = {}

    class Media:
        css = {"all": ["flags/admin.css"]}

    def service_save(self, request, obj, data):
        """Create (``obj`` is None) or change through a service; returns the saved object."""
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors:
                    return
                try:
                    self.saved_object = model_admin.service_save(request, obj, self.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(self, exc, model_admin.service_fields)
                except VersionMismatch as exc:
                    self.add_error(None, f"Someone else changed this state meanwhile (now version "
                                         f"{exc.current}). Reload the page and apply your "
                                         f"change again.")

        return ServiceForm

    def save_model(self, request, obj, form, change):
        # The service already wrote it while validating the form (see get_form).
        saved = getattr(form, "saved_object", None)
        if saved is not None:
            for field in obj._meta.concrete_fields:
                setattr(obj, field.attname, getattr(saved, field.attname))
            obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # Related rows went through the service and the inlines are read-only: write nothing,
        # but let the formsets record that nothing changed (the change message reads that).
        for formset in formsets:
            formset.save(commit=False)


@admin.register(Project)
class ProjectAdmin(FlagsAdmin):
    list_display = ["key", "name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["key", "name"]
    service_fields = {"key": "key", "name": "name"}

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "key", "created_at"] if obj else ["created_at"]

    def service_save(self, request, obj, data):
        if obj is None:
            return services.project_create(organization=data["organization"], key=data["key"],
                                           name=data.get("name", ""), actor=admin_actor(request))
        return services.project_rename(project=obj, name=data["name"],
                                       actor=admin_actor(request))


@admin.register(Environment)
class EnvironmentAdmin(FlagsAdmin):
    organization_path = "project__organization"
    list_display = ["key", "name", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["key", "name", "project__key"]
    service_fields = {"key": "key", "name": "name"}

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key", "created_at"] if obj else ["created_at"]

    def service_save(self, request, obj, data):
        if obj is None:
            return services.environment_create(project=data["project"], key=data["key"],
                                               name=data.get("name", ""),
                                               actor=admin_actor(request))
        return services.environment_rename(environment=obj, name=data["name"],
                                           actor=admin_actor(request))


@admin.register(SDKKey)
class SDKKeyAdmin(FlagsAdmin):
    """Keys are created, rotated and revoked here; the secret is shown once, in a message."""

    organization_path = "environment__project__organization"

    list_display = ["display_prefix", "environment", "kind", "name", "status", "created_at",
                    "expires_at"]
    list_filter = ["kind", "environment__project", "environment"]
    search_fields = ["display_prefix", "name"]
    fields = ["environment", "kind", "name"]
    actions = ["revoke_keys", "rotate_keys"]
    service_fields = {"kind": "kind", "name": "name"}

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["environment", "kind", "display_prefix", "created_at", "created_by",
                    "revoked_at", "expires_at", "replaced_by"]
        return []

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) + ["name"] if obj else self.fields


    def service_save(self, request, obj, data):
        if obj is not None:
            return services.sdk_key_rename(sdk_key=obj, name=data.get("name", ""),
                                           actor=admin_actor(request))
        created, raw_key = services.sdk_key_create(
            environment=data["environment"], kind=data["kind"], name=data.get("name", ""),
            actor=admin_actor(request))
        messages.warning(request, f"New {created.kind} key for {created.environment}: {raw_key} "
                                  "— copy it now, it will not be shown again.")
        return created

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
        help_texts = {"variants": "The values the flag can serve. Boolean flags may leave "
                                  "them empty for true and false."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variants"].required = False
        self.fields["variants"].widget = variants_widget(self.instance if self.instance.pk
                                                         else None)
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


def _short(value) -> str:
    text = "—" if value is None else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


def _shown(path: str, value):
    """A value of an audit diff: a rule or a default rule in words, anything else as JSON."""
    if isinstance(value, dict):
        head, _, rest = path.partition(".")
        if head == "rules" and rest.isdigit():
            return format_html("<span class=\"audit-words\">{}</span>", format_rule(value))
        if path == "defaultRule":
            return format_html("<span class=\"audit-words\">{}</span>", format_outcome(value))
    return format_html("<code>{}</code>", _short(value))


def format_audit_change(entry: AuditLog):
    """An audit entry as a reader wants it: one line per changed field (before → after), rules
    in words, and the whole before/after JSON one click away."""
    rows = audit_diff(entry.before, entry.after)
    lines = format_html_join("", "<li><b>{}</b>: {} → {}</li>", (
        (describe_path(path), _shown(path, old), _shown(path, new)) for path, old, new in rows))
    raw = json.dumps({"before": entry.before, "after": entry.after}, indent=2,
                     ensure_ascii=False)
    return format_html('<ul class="audit-diff">{}</ul><details><summary>JSON</summary>'
                       '<pre>{}</pre></details>', lines or mark_safe("<li>no change</li>"),
                       raw)


def audit_actor(entry: AuditLog) -> str:
    if entry.actor_label:
        return entry.actor_label
    return entry.actor.get_username() if entry.actor else entry.source


class AuditColumns:
    """The columns every audit listing shows besides its own."""

    @admin.display(description="when", ordering="created_at")
    def when(self, entry):
        return localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="action", ordering="action")
    def what(self, entry):
        return entry.action.replace("_", " ")

    @admin.display(description="who (source)")
    def who(self, entry):
        return f"{audit_actor(entry)} ({entry.get_source_display()})"

    @admin.display(description="environment", ordering="environment__key")
    def environment_key(self, entry):
        return entry.environment.key if entry.environment else "—"

    @admin.display(description="what changed")
    def change(self, entry):
        return format_audit_change(entry)


class AuditInline(AuditColumns, admin.TabularInline):
    """The flag's latest changes, newest first, each as a readable diff (all of them: the
    audit log's own page, linked from the flag)."""

    model = AuditLog
    fk_name = "flag"
    extra = 0
    can_delete = False
    max_num = 0
    fields = ["when", "what", "environment_key", "who", "change"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "audit trail (latest 20)"
    shown = 20

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("actor", "environment")
        latest = list(queryset.order_by("-created_at", "-id").values_list("pk", flat=True)
                      [:self.shown])
        return queryset.filter(pk__in=latest)


def format_condition(constraint: dict) -> str:
    """``country is one of US, CA``: a condition in the editor's words."""
    operator = constraint.get("operator")
    values = constraint.get("values")
    joiner = ", " if operator in ("in", "not_in") else " or "
    shown = "" if values is None else " " + joiner.join(map(str, values))
    if operator == "segment_match":
        return f"in segment{shown}"
    return f"{constraint.get('attribute')} {OPERATOR_LABELS.get(operator, operator)}{shown}"


def format_outcome(rule: dict) -> str:
    if rule.get("variant") is not None:
        return rule["variant"]
    return " / ".join(f"{p.get('variant')} {p.get('weight')}%" for p in rule.get("distribution", []))


def format_conditions(rule: dict) -> str:
    return " and ".join(format_condition(c) for c in rule.get("constraints", [])) or "everyone"


def format_rule(rule: dict) -> str:
    return f"if {format_conditions(rule)} → {format_outcome(rule)}"


def format_state_rules(state: FlagState):
    rows = [(format_conditions(rule), format_outcome(rule)) for rule in state.rules]
    rows.append(("otherwise", format_outcome(state.default_rule)))
    return format_html("<ol>{}</ol>", format_html_join("", "<li>{} → <b>{}</b></li>", rows))


class TagFilter(admin.AllValuesFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "tag"


@admin.register(Flag)
class FlagAdmin(FlagsAdmin):
    organization_path = "project__organization"
    form = FlagAdminForm
    service_fields = {"variants": "variants", "key": "key", "kind": "kind", "tags": "tag_names"}
    list_display = ["key", "name", "project", "kind", "tag_list", "environments", "lifecycle"]
    list_filter = ["project", "kind", "archived", ("tags__name", TagFilter)]
    search_fields = ["key", "name", "description", "tags__name"]
    inlines = [FlagStateInline, AuditInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("project").prefetch_related(
            "tags", "states__environment")

    class Media:
        # The evaluations chart (the analytics app's script, reading its dashboard API).
        css = {"all": ["vendor/uplot/uPlot.min.css"]}
        js = ["vendor/uplot/uPlot.iife.min.js", "analytics/flag_chart.js"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key", "kind", "salt", "audit_history", "evaluations"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["project", "key", "name", "description", "kind", "variants", "tag_names",
                  "archived"]
        return fields + ["salt", "audit_history", "evaluations"] if obj else fields

    @admin.display(description="evaluations")
    def evaluations(self, flag):
        """A chart per environment, drawn in the browser from the analytics dashboard API."""
        project = flag.project
        base = f"/api/projects/{project.key}/analytics/flags/{flag.key}/evaluations"
        series = {env.key: f"{base}?organization={project.organization.slug}&environment="
                           f"{env.key}" for env in Environment.objects.filter(project=project)
                  .order_by("id")}
        return format_html('<div class="flag-analytics" data-series="{}"></div>'
                           '<a href="/live/analytics/?project={}&amp;flag={}">more</a>',
                           json.dumps(series), project.key, flag.key)

    @admin.display(description="status", ordering="archived")
    def lifecycle(self, flag):
        return "archived" if flag.archived else "live"

    @admin.display(description="audit")
    def audit_history(self, flag):
        count = AuditLog.objects.filter(flag=flag).count()
        url = reverse("admin:flags_auditlog_changelist") + f"?flag__id__exact={flag.pk}"
        return format_html('<a href="{}">all {} changes of this flag</a>', url, count)

    @admin.display(description="tags")
    def tag_list(self, flag):
        return ", ".join(sorted(tag.name for tag in flag.tags.all()))

    @admin.display(description="environments")
    def environments(self, flag):
        return format_html_join(mark_safe("<br>"), "{}: <b>{}</b> v{}", (
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

    def service_save(self, request, obj, data):
        if obj is None:
            return services.flag_create(
                project=data["project"], key=data["key"], name=data.get("name", ""),
                kind=data["kind"], variants=data.get("variants") or None,
                description=data.get("description", ""), tags=data["tag_names"],
                actor=admin_actor(request))
        return services.flag_update(
            flag=obj, name=data.get("name", ""), description=data.get("description", ""),
            variants=data.get("variants") or obj.variants, tags=data["tag_names"],
            archived=data.get("archived", False), actor=admin_actor(request))


class FlagStateAdminForm(forms.ModelForm):
    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = FlagState
        fields = ["enabled", "off_variant", "rules", "default_rule", "prerequisites"]
        help_texts = {
            "rules": "Checked in order: the first rule whose conditions all hold decides.",
            "default_rule": "What everyone else gets while the flag is on.",
            "prerequisites": "Other flags that must serve these variants first; otherwise "
                             "this flag serves its off variant.",
            "off_variant": "Served while the flag is off.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["loaded_version"].initial = self.instance.version
        for name in ("rules", "prerequisites"):
            self.fields[name].required = False
        if self.instance.pk:
            for name, widget in state_widgets(self.instance).items():
                self.fields[name].widget = widget
            variants = [v["key"] for v in self.instance.flag.variants]
            if self.instance.off_variant not in variants:
                variants.append(self.instance.off_variant)
            self.fields["off_variant"].widget = forms.Select(choices=[(v, v) for v in variants])


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
class FlagStateAdmin(FlagsAdmin):
    """A flag's targeting in one environment: on/off, rules, default rule, prerequisites."""

    organization_path = "environment__project__organization"

    form = FlagStateAdminForm
    service_fields = {"rules": "rules", "defaultRule": "default_rule", "offVariant": "off_variant",
                      "prerequisites": "prerequisites", "enabled": "enabled"}
    list_display = ["flag", "environment", "enabled", "version", "updated_at"]
    list_filter = ["environment__project", "environment__key", "enabled"]
    search_fields = ["flag__key"]
    readonly_fields = ["flag", "environment", "version", "rules_preview"]
    fieldsets = [
        (None, {"fields": ["flag", "environment", "version", "enabled", "off_variant",
                           "loaded_version"]}),
        ("Targeting", {"fields": ["prerequisites", "rules", "default_rule"]}),
        ("As served now", {"fields": ["rules_preview"], "classes": ["collapse"]}),
    ]
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

    def service_save(self, request, obj, data):
        if obj is None:
            return None  # states exist for every flag and environment: none is added here
        return services.flag_state_update(
            state=obj, actor=admin_actor(request), expected_version=data.get("loaded_version"),
            enabled=data["enabled"], off_variant=data["off_variant"],
            rules=data.get("rules") or [], default_rule=data["default_rule"],
            prerequisites=data.get("prerequisites") or [])


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
class ScheduledChangeAdmin(FlagsAdmin):
    """Upcoming and past scheduled changes; schedule one, cancel pending ones."""

    organization_path = "state__environment__project__organization"
    form = ScheduledChangeAdminForm
    service_fields = {"scheduledAt": "scheduled_at", "changeType": "change_type",
                      "payload": "payload"}
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

    def service_save(self, request, obj, data):
        if obj is not None:
            return None  # a scheduled change is not edited: cancel it and schedule another
        return scheduled_change_create(
            state=data["state"], scheduled_at=data["scheduled_at"],
            change_type=data["change_type"], payload=data.get("payload") or {},
            actor=admin_actor(request))

    @admin.action(description="Cancel selected pending changes")
    def cancel_changes(self, request, queryset):
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
        help_texts = {"constraints": "A context is in the segment when every condition holds."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["constraints"].widget = constraints_widget(
            self.instance.project_id if self.instance.pk else None)


@admin.register(Segment)
class SegmentAdmin(FlagsAdmin):
    organization_path = "project__organization"
    form = SegmentAdminForm
    service_fields = {"constraints": "constraints", "key": "key"}
    list_display = ["key", "name", "project", "updated_at"]
    list_filter = ["project"]
    search_fields = ["key", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key"] if obj else []

    def service_save(self, request, obj, data):
        if obj is None:
            return services.segment_create(
                project=data["project"], key=data["key"], name=data.get("name", ""),
                description=data.get("description", ""),
                constraints=data.get("constraints") or [], actor=admin_actor(request))
        return services.segment_update(
            segment=obj, name=data.get("name", ""), description=data.get("description", ""),
            constraints=data.get("constraints") or [], actor=admin_actor(request))

    def delete_model(self, request, obj):
        services.segment_delete(segment=obj, actor=admin_actor(request))


@admin.register(AuditLog)
class AuditLogAdmin(AuditColumns, FlagsAdmin):
    list_display = ["when", "what", "subject", "environment_key", "who", "change"]
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "environment")

    list_filter = ["source", "action", "project"]
    search_fields = ["subject", "actor_label"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
