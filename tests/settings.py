"""The test settings, plus the throw-away notes app whose stream kind tests the backbone."""

from config.settings.test import *  # noqa: F401,F403
from config.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.streaming.notes"]
