from django.urls import path

from . import ops, views

urlpatterns = [
    path("stream/token", views.stream_token, name="company-stream-token"),
    path("stream/publish", views.publish, name="company-publish"),
    path("stream/stats", ops.stream_stats, name="stream-stats"),
    path("stream/health", ops.stream_health, name="stream-health"),
]
