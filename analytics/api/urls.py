from django.urls import path

from . import dashboard

P = "projects/<str:project>/analytics"

urlpatterns = [
    path(f"{P}/flags", dashboard.FlagSummaryView.as_view(), name="analytics-flags"),
    path(f"{P}/flags/<str:flag>/evaluations", dashboard.FlagEvaluationsView.as_view(),
         name="analytics-flag-evaluations"),
    path(f"{P}/stale", dashboard.StaleFlagsView.as_view(), name="analytics-stale"),
    path(f"{P}/events/<str:name>", dashboard.CustomEventsView.as_view(),
         name="analytics-events"),
    path(f"{P}/unknown-flags", dashboard.UnknownFlagsView.as_view(),
         name="analytics-unknown-flags"),
]
