"""The schema fuzz, bounded (issue 14, scope 1): schemathesis against a live server with valid
credentials of every kind finds no 5xx, no answer outside the schema and no refused write
that changed the database; every stream, opened with drawn parameters and credentials, answers
no 5xx and only documented statuses (tests/fuzz/streams.py). ``make fuzz`` runs the same with far more examples."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.run import fuzz
from tests.fuzz.stack import fuzz_stack
from tests.fuzz.streams import fuzz_streams

pytestmark = pytest.mark.live


def test_schema_fuzz__every_credential__no_failure(tmp_path):
    examples = int(os.environ.get("FUZZ_EXAMPLES", "5"))
    with fuzz_stack(tmp_path / "var") as stack:
        rows = fuzz(stack.base_url, stack.env, stack.world, stack.ops_token, examples,
                    seed=20261124, report_dir=tmp_path)
        # Streams: far cheaper per case (a head and a frame), so more of them.
        streams = fuzz_streams(stack.base_url, stack.world, examples * 8, seed_value=20261124)
    assert len(rows) == 12 and all(row["cases"] > 0 for row in rows), rows
    failed = {row["credential"]: row["failures"] for row in rows if row["exit"] != 0}
    assert not failed, failed
    assert len(streams) == 7, streams
    for row in streams:  # each opened with A's credential, and refused without one
        assert 200 in row["statuses"] and 401 in row["statuses"], row
