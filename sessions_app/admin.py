"""Staff browse agent sessions here: a filterable list and each conversation with its
participants and messages (read-only: sessions are written by the agents), and a link to watch
it live."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from tenancy.admin import TenantScopedAdmin

from .models import Conversation, IngestEvent, Message, Participant, Task, TaskMessage


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False


class ParticipantInline(ReadOnlyInline):
    model = Participant
    fields = ["agent_id", "agent_type", "name", "model", "cli_version"]
    readonly_fields = fields


class MessageInline(ReadOnlyInline):
    """The conversation's messages in order (the first 500; the API pages through all)."""

    model = Message
    fields = ["sequence_number", "turn_number", "agent_id", "text", "tokens_used", "cost",
              "created_at"]
    readonly_fields = fields
    verbose_name_plural = "messages (first 500, in order)"

    def get_queryset(self, request):
        first = list(super().get_queryset(request).order_by(
            "conversation_id", "sequence_number", "created_at", "client_id")
            .values_list("pk", flat=True)[:500])
        return super().get_queryset(request).filter(pk__in=first)

    @admin.display(description="content")
    def text(self, message):
        return format_html('<div class="session-message">{}</div>', message.content)


class AgentTypeFilter(admin.SimpleListFilter):
    title = "agent type"
    parameter_name = "agent_type"

    def lookups(self, request, model_admin):
        types = (Participant.objects.filter(conversation__in=model_admin.get_queryset(request))
                 .exclude(agent_type="").values_list("agent_type", flat=True)
                 .distinct().order_by("agent_type"))
        return [(agent_type, agent_type) for agent_type in types]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(participants__agent_type=self.value()).distinct()
        return queryset


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdmin):
    list_display = ["client_id", "status", "source", "mode", "prompt", "message_count",
                    "started_at", "ended_at", "organization"]
    list_filter = ["status", "source", AgentTypeFilter, "organization"]
    search_fields = ["client_id", "initial_prompt"]
    date_hierarchy = "started_at"
    list_per_page = 50
    inlines = [ParticipantInline, MessageInline]
    fields = ["client_id", "organization", "status", "source", "watch", "mode",
              "initial_prompt", "max_turns", "message_count", "total_messages", "total_turns",
              "total_tokens", "total_cost", "duration_seconds", "summary", "errors",
              "system_info", "command", "started_at", "ended_at", "placeholder"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="initial prompt")
    def prompt(self, conversation):
        text = conversation.initial_prompt
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="live")
    def watch(self, conversation):
        url = reverse("live-session", args=[conversation.pk])
        return format_html('<a href="{}">watch this conversation live</a>', url)


@admin.register(IngestEvent)
class IngestEventAdmin(TenantScopedAdmin):
    """Every event the agent CLIs sent, as sent, with the answer it got."""

    list_display = ["received_at", "type", "event_key", "status_code", "organization"]
    list_filter = ["type", "status_code", "organization"]
    search_fields = ["event_key"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TaskMessageInline(ReadOnlyInline):
    model = TaskMessage
    fields = ["sequence", "kind", "content", "progress", "created_at", "expires_at"]
    readonly_fields = fields


@admin.register(Task)
class TaskAdmin(TenantScopedAdmin):
    """Agent-to-agent tasks (read-only: agents and applications write them over the API)."""

    list_display = ["task_id", "agent", "state", "last_sequence", "created_at", "updated_at",
                    "organization"]
    list_filter = ["state", "agent", "organization"]
    search_fields = ["task_id", "context_id", "agent"]
    date_hierarchy = "created_at"
    fields = ["task_id", "agent", "organization", "state", "watch", "context_id", "input",
              "last_sequence", "created_by", "created_at", "updated_at"]
    readonly_fields = fields
    inlines = [TaskMessageInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="live")
    def watch(self, task):
        return format_html('<a href="{}">follow this task live</a>',
                           reverse("live-task", args=[task.pk]))
