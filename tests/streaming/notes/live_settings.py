"""The server's settings with the throw-away notes app installed (for live tests)."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.streaming.notes"]
