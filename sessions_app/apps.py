from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    """AI-agent conversations and agent-to-agent tasks (see SPEC: Agent sessions and tasks)."""

    name = "sessions_app"
    verbose_name = "Agent sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from streaming import kinds

        from . import task_streams
        from .streams import STREAM_KINDS, api_key_credential_kind, staff_credential_kind

        kinds.register_credential(api_key_credential_kind)
        kinds.register_credential(staff_credential_kind)
        kinds.register_credential(task_streams.task_token_credential_kind)
        for kind in STREAM_KINDS + task_streams.STREAM_KINDS:
            kinds.register(kind)
