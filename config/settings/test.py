"""Test settings: the base settings with a fast password hasher."""

import os
import tempfile

from .base import *  # noqa: F401,F403
from .base import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In-process tests present refused credentials by the hundred from one address; the guard is
# tested on its own and against live servers (tests/tenancy/test_credential_guard.py).
CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE = 0
# Rolled-back tests reuse user and key ids within the minute; the limit's tests turn it on.
API_RATE_LIMIT_PER_MINUTE = 0

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory shared cache: concurrent writers (the scheduled-change race
    # tests) then queue on the busy timeout as they do in production, instead of failing with
    # "database table is locked".
    DATABASES["default"]["TEST"] = {
        "NAME": f"{tempfile.gettempdir()}/flagstream-test-{os.getpid()}.sqlite3"}
