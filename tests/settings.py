"""The test settings, plus the throw-away notes app whose stream kind tests the backbone."""

from config.settings.test import *  # noqa: F401,F403
from config.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.streaming.notes"]

# In-process tests write inside the test's own transaction, which the ingest writer's thread
# (a connection of its own) cannot see: they apply events inline. The live tests run the
# server as configured, group commit included; test_ingest_writer.py runs the writer itself.
INGEST_GROUP_COMMIT = False
