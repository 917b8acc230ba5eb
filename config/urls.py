from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from flags.api import ofrep, sdk_views

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
    path("admin/", admin.site.urls),
    path("live/flags/", TemplateView.as_view(template_name="live_flags.html"), name="live-flags"),
    path("api/auth/", include("tenancy.api.urls")),
    path("api/v1/", include("flags.api.urls")),
    path("api/sdk/flags", sdk_views.sdk_flags, name="sdk-flags"),
    path("api/sdk/evaluate", sdk_views.sdk_evaluate, name="sdk-evaluate"),
    path("ofrep/v1/evaluate/flags/<str:key>", ofrep.evaluate_flag, name="ofrep-flag"),
    path("ofrep/v1/evaluate/flags", ofrep.evaluate_flags, name="ofrep-flags"),
    # Only Pushpin's follow-ups (link=next, recover) get here; streaming.routing serves streams.
    path("", include("streaming.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
