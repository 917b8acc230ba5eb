"""The project's URLs (the API makes the change) plus the minimal django-eventstream view."""

import django_eventstream
from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("baseline/events/<int:env>/", include(django_eventstream.urls),
         {"format-channels": ["environment-{env}"]}),
    *project_urlpatterns,
]
