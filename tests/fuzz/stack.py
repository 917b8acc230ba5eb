"""The live server the fuzz runs against: the two organizations of the isolation world
(tests/e2e/isolation_world.py), an operators' token, and every rate limit off, logins' too
(the fuzzer sends far more than a client would, wrong passwords included)."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from tests.e2e.isolation_world import two_organizations


@contextlib.contextmanager
def fuzz_stack(var_dir: Path):
    with two_organizations(var_dir, "fuzz-ops-" + secrets.token_hex(16), extra_env={
            "ANALYTICS_RATE_LIMIT_PER_MINUTE": "0", "AUTH_FAILURES_PER_USERNAME_PER_MINUTE": "0",
            "AUTH_FAILURES_PER_ADDRESS_PER_MINUTE": "0"}) as stack:
        yield stack
