from django.urls import path

from . import views

urlpatterns = [
    # No trailing slashes: the AgentPipe CLI posts to /api/ingest, and a redirect would turn
    # its POST into a GET.
    path("ingest", views.ingest, name="sessions-ingest"),
    path("sessions/upload", views.upload, name="sessions-upload"),
    path("sessions", views.session_list, name="sessions-list"),
    path("sessions/<int:conversation_id>", views.session_detail, name="sessions-detail"),
]
