"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.fuzz.hooks``) for the schema fuzz: a write
the server refuses (4xx) must leave the database as it was — every table's rows, the audit
log included — which the check compares before and after each unsafe call.

Runs inside the schemathesis process, against the live server's own database (the same
environment: FLAGSTREAM_VAR_DIR and DATABASE_URL)."""

from __future__ import annotations

import hashlib
import os

import schemathesis

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Written by what is not the request itself: logins' sessions, and the bookkeeping of
# background schedules.
IGNORED = {"django_session"}
_before: dict[int, dict[str, str]] = {}


def _connection():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    from django.db import connection

    return connection


def fingerprint() -> dict[str, str]:
    """Per table: a digest of all its rows."""
    connection = _connection()
    digests = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in IGNORED:
                continue
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            digests[table] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
    return digests  # autocommit: each SELECT sees what the server had committed by then


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() in UNSAFE:
        _before[id(case)] = fingerprint()


@schemathesis.check
def rejected_write_changes_nothing(ctx, response, case):
    before = _before.pop(id(case), None)
    if before is None or not 400 <= response.status_code < 500:
        return None
    after = fingerprint()
    changed = sorted(table for table in set(before) | set(after)
                     if before.get(table) != after.get(table))
    if changed:
        raise AssertionError(f"{case.method} {case.formatted_path} was refused "
                             f"({response.status_code}) but changed {', '.join(changed)}")
    return None
