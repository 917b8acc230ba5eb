from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Organizations (the dashboards' "company"), memberships with roles, and user tokens:
    what every other app needs to know who is asking. It imports no domain app."""

    name = "tenancy"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import auth_backends  # noqa: F401  (counts failed logins)
        from .api import schema  # noqa: F401  (registers the OpenAPI auth extension)
