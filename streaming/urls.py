"""Pushpin's follow-up requests (``link=next``, ``recover``), one route per stream kind it may
hold. Streams themselves are opened through streaming.routing, never here."""

from django.urls import path

from .grip import grip_follow_up
from .kinds import registry

urlpatterns = [path(kind.path.strip("/"), grip_follow_up)
               for kind in registry.kinds.values() if kind.pushpin]
