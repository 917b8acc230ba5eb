from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """SDK evaluation and custom events, and their rollups (see SPEC: Analytics)."""

    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"
