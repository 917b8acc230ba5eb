"""Shared fixtures of the live tests; each module brings its own ``stack`` (a LiveStack)."""

import pytest


@pytest.fixture(scope="module")
def api(stack):
    """An httpx client logged in to the module's live server as the demo's staff user."""
    client = stack.api_client()
    yield client
    client.close()
