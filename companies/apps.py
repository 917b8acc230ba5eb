from django.apps import AppConfig


class CompaniesConfig(AppConfig):
    """Company live updates: the company stream, its tokens, publishing from outside
    (see SPEC: Streaming — company stream, publishing from outside)."""

    name = "companies"
    verbose_name = "Company live updates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from streaming import kinds

        from .streams import STREAM_KINDS, member_credential_kind

        kinds.register_credential(member_credential_kind)
        for kind in STREAM_KINDS:
            kinds.register(kind)
