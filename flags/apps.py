from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    verbose_name = "Feature flags"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .api import schema  # noqa: F401  (registers the OpenAPI auth extension)
