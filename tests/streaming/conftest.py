import pytest


@pytest.fixture(scope="session", autouse=True)
def stream_pool_closed_at_the_end(django_db_setup, django_db_blocker):
    """The in-process streams use the stream database pool; its connections must be closed
    before the test database is dropped (PostgreSQL refuses while they are open)."""
    yield
    from streaming.db import close_pool

    with django_db_blocker.unblock():
        close_pool()
