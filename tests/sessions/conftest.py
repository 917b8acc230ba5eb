import pytest

from tenancy import services as tenancy_services
from tenancy.models import Organization


@pytest.fixture
def org_key(organization):
    """A raw API key of ``organization`` with every sessions scope."""
    _, raw = tenancy_services.api_key_create(organization=organization,
                                             scopes=["ingest", "upload", "read"], name="cli")
    return raw


@pytest.fixture
def other_org_key(db):
    other = Organization.objects.create(slug="globex", name="Globex")
    _, raw = tenancy_services.api_key_create(organization=other,
                                             scopes=["ingest", "upload", "read"])
    return raw


@pytest.fixture
def post(client):
    def send(path, body, key, **headers):
        import json

        return client.generic("POST", path, json.dumps(body), content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {key}" if key else "", **headers)
    return send


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit windows live in the cache, keyed by key id: ids repeat between tests."""
    from django.core.cache import cache

    cache.clear()


async def db_thread(fn, *args, **kwargs):
    """``asyncio.to_thread`` for database work: the thread's connections are closed after, so
    that none is left open when the test database is dropped (PostgreSQL refuses then)."""
    import asyncio

    from django.db import connections

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)
