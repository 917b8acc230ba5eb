from django.urls import path

from . import views

P = "projects/<str:project>"
E = f"{P}/environments/<str:env>"

urlpatterns = [
    path("projects/", views.ProjectListView.as_view()),
    path(f"{P}/", views.ProjectDetailView.as_view()),
    path(f"{P}/environments/", views.EnvironmentListView.as_view()),
    path(f"{E}/", views.EnvironmentDetailView.as_view()),
    path(f"{E}/keys/", views.SDKKeyListView.as_view()),
    path(f"{E}/keys/<str:key_id>/revoke/", views.SDKKeyRevokeView.as_view()),
    path(f"{E}/keys/<str:key_id>/rotate/", views.SDKKeyRotateView.as_view()),
    path(f"{E}/flags/<str:flag>/", views.FlagStateView.as_view()),
    path(f"{E}/flags/<str:flag>/scheduled-changes/", views.ScheduledChangeListView.as_view()),
    path(f"{E}/flags/<str:flag>/scheduled-changes/<str:change_id>/",
         views.ScheduledChangeDetailView.as_view()),
    path(f"{P}/flags/", views.FlagListView.as_view()),
    path(f"{P}/flags/<str:flag>/", views.FlagDetailView.as_view()),
    path(f"{P}/flags/<str:flag>/audit/", views.FlagAuditView.as_view()),
    path(f"{P}/segments/", views.SegmentListView.as_view()),
    path(f"{P}/segments/<str:segment>/", views.SegmentDetailView.as_view()),
]
