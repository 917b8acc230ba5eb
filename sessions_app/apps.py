from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    """AI-agent conversations and agent-to-agent tasks (see SPEC: Agent sessions and tasks)."""

    name = "sessions_app"
    verbose_name = "Agent sessions"
    default_auto_field = "django.db.models.BigAutoField"
