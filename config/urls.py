from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics import pages as analytics_pages
from analytics.api import views as analytics_views
from flags.api import ofrep, sdk_views
from config.health import health
from sessions_app import views as session_views
from companies import pages as company_pages
from streaming.metrics import metrics
from tenancy import pages as tenancy_pages

admin.site.site_header = "Flagstream"
admin.site.site_title = "Flagstream"
admin.site.index_title = "Flags, tenants and keys"
# The sidebar repeats the index on every page and leaves a 1280 px screen too little room for
# the lists: breadcrumbs and the index navigate instead.
admin.site.enable_nav_sidebar = False


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


# Celery beat's own tables (periodic tasks, schedules) are the operator's business: the one
# schedule lives in config/celery.py. Staff who are not superusers do not see them.
for _model, _model_admin in admin.site._registry.items():
    if _model._meta.app_label == "django_celery_beat":
        _model_admin.has_module_permission = _superusers_only

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
    path("admin/", admin.site.urls),
    path("live/flags/", TemplateView.as_view(template_name="live_flags.html"), name="live-flags"),
    path("live/sessions/", session_views.live_sessions, name="live-sessions"),
    path("live/sessions/<int:conversation_id>/", session_views.live_session,
         name="live-session"),
    path("live/tasks/<int:task_id>/", session_views.live_task, name="live-task"),
    path("api/health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("accounts/login/", tenancy_pages.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("live/company/", company_pages.live_company, name="live-company"),
    path("live/analytics/", analytics_pages.live_analytics, name="live-analytics"),
    path("", include("companies.urls")),
    path("api/auth/", include("tenancy.api.urls")),
    path("api/", include("analytics.api.urls")),
    path("api/", include("sessions_app.api.urls")),
    path("agent-to-agent/", include("sessions_app.api.task_urls")),
    path("api/v1/", include("flags.api.urls")),
    path("api/sdk/flags", sdk_views.sdk_flags, name="sdk-flags"),
    path("api/sdk/evaluate", sdk_views.sdk_evaluate, name="sdk-evaluate"),
    path("api/sdk/events", analytics_views.sdk_events, name="sdk-events"),
    path("api/sdk/track", analytics_views.sdk_track, name="sdk-track"),
    path("ofrep/v1/evaluate/flags/<str:key>", ofrep.evaluate_flag, name="ofrep-flag"),
    path("ofrep/v1/evaluate/flags", ofrep.evaluate_flags, name="ofrep-flags"),
    # Only Pushpin's follow-ups (link=next, recover) get here; streaming.routing serves streams.
    path("", include("streaming.urls")),
    # Public, and public whatever Authorization header a client sends along (a key's Bearer
    # is no login token, and must not turn the schema into a 401).
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
