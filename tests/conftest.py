"""Shared fixtures: organization → project → environments → flags, users of every role, and
API clients authenticated the ways real callers are."""

import pytest
from rest_framework.test import APIClient

from flags import services
from flags.audit import Actor
from tenancy.tokens import token_pair_issue

from .factories import MembershipFactory, OrganizationFactory, UserFactory

TEST_ACTOR = Actor(source="command", label="tests")


@pytest.fixture
def actor():
    return TEST_ACTOR


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="acme")


@pytest.fixture
def project(organization):
    return services.project_create(organization=organization, key="demo", actor=TEST_ACTOR)


@pytest.fixture
def development(project):
    return services.environment_create(project=project, key="development", actor=TEST_ACTOR)


@pytest.fixture
def production(project):
    return services.environment_create(project=project, key="production", actor=TEST_ACTOR)


@pytest.fixture
def environments(development, production):
    return development, production


@pytest.fixture
def color_flag(project, environments):
    return services.flag_create(
        project=project, key="button-color", kind="string", tags=["ui"], actor=TEST_ACTOR,
        variants=[{"key": c, "value": c} for c in ("red", "green", "blue")])


@pytest.fixture
def bool_flag(project, environments):
    return services.flag_create(project=project, key="new-checkout", tags=["checkout"],
                                actor=TEST_ACTOR)


def member(organization, role):
    return MembershipFactory(organization=organization, role=role,
                             user=UserFactory(username=f"{organization.slug}-{role}")).user


@pytest.fixture
def viewer(organization):
    return member(organization, "viewer")


@pytest.fixture
def editor(organization):
    return member(organization, "editor")


@pytest.fixture
def org_admin(organization):
    return member(organization, "admin")


@pytest.fixture
def outsider(db):
    """An admin of another organization."""
    return member(OrganizationFactory(slug="globex"), "admin")


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(user)['access']}")
    return client


@pytest.fixture
def api_as():
    return bearer_client


@pytest.fixture(autouse=True)
def _fresh_config_cache():
    """Rolled-back tests reuse ids, so the per-process configuration cache must not leak."""
    from flags import environment_config

    environment_config._cache.clear()
    yield
    environment_config._cache.clear()


@pytest.fixture(scope="session", autouse=True)
def stream_pool_closed_at_the_end(django_db_setup, django_db_blocker):
    """In-process streams (tests/streaming, tests/sessions) use the stream database pool; its
    connections must be closed before the test database is dropped (PostgreSQL refuses while
    they are open)."""
    yield
    from streaming.db import close_pool

    with django_db_blocker.unblock():
        close_pool()


@pytest.fixture
def keys(development, production, color_flag, bool_flag):
    """Environment keys of the demo flags: server, client, revoked, and production's server."""
    state = color_flag.states.get(environment=development)
    services.flag_state_update(state=state, enabled=True, actor=TEST_ACTOR, rules=[
        {"constraints": [{"attribute": "country", "operator": "in", "values": ["US", "CA"]}],
         "variant": "green"}], default_rule={"variant": "red"})
    server, server_raw = services.sdk_key_create(environment=development, kind="server",
                                                 actor=TEST_ACTOR)
    _, client_raw = services.sdk_key_create(environment=development, kind="client",
                                            actor=TEST_ACTOR)
    revoked, revoked_raw = services.sdk_key_create(environment=development, kind="server",
                                                   actor=TEST_ACTOR)
    services.sdk_key_revoke(sdk_key=revoked, actor=TEST_ACTOR)
    _, prod_raw = services.sdk_key_create(environment=production, kind="server", actor=TEST_ACTOR)
    return {"server": server_raw, "client": client_raw, "revoked": revoked_raw,
            "production": prod_raw}
