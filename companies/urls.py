from django.urls import path

from . import views

urlpatterns = [
    path("stream/token", views.stream_token, name="company-stream-token"),
    path("stream/publish", views.publish, name="company-publish"),
]
