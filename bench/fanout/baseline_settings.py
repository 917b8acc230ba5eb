"""The baseline a Django developer would write: django-eventstream's stock view and storage."""

from config.settings.base import *  # noqa: F401,F403

ROOT_URLCONF = "bench.fanout.baseline_urls"
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "django_eventstream.channelmanager.DefaultChannelManager"
MIDDLEWARE = [m for m in MIDDLEWARE if m != "django_grip.GripMiddleware"]  # noqa: F405
