"""API_RATE_LIMIT_PER_MINUTE: a request budget per user on the management API, and per user
or organization API key on the session read API, company publishing and the task endpoints;
past it, 429 JSON with Retry-After, and other credentials keep theirs."""

import json

import pytest
from django.core.cache import cache

from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.tokens import access_token_issue

pytestmark = pytest.mark.django_db
LIMIT = 3


@pytest.fixture(autouse=True)
def limited(settings):
    cache.clear()  # windows are keyed by ids, which rolled-back tests reuse
    settings.API_RATE_LIMIT_PER_MINUTE = LIMIT
    yield
    cache.clear()


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def user_of(django_user_model, organization, name: str, role: str = "admin") -> dict:
    user = django_user_model.objects.create_user(name, password="pw")
    Membership.objects.create(user=user, organization=organization, role=role)
    return bearer(access_token_issue(user))


def api_key(organization, *scopes) -> dict:
    return bearer(tenancy_services.api_key_create(organization=organization, scopes=list(scopes))[1])


def send(client, method, path, headers, body=None):
    return client.generic(method, path, json.dumps(body) if body is not None else "",
                          content_type="application/json", **headers)


def assert_budget(call, other_call):
    """``LIMIT`` calls pass, the next is 429 with Retry-After; ``other_call`` (another
    credential) still passes."""
    for _ in range(LIMIT):
        response = call()
        assert response.status_code < 400, response.content
    refused = call()
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"] == "rate_limited"
    assert f"more than {LIMIT}" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other_call().status_code < 400


def test_management_api__per_user(client, django_user_model, project):
    alice = user_of(django_user_model, project.organization, "alice")
    bob = user_of(django_user_model, project.organization, "bob")
    assert_budget(lambda: send(client, "GET", "/api/v1/projects/", alice),
                  lambda: send(client, "GET", "/api/v1/projects/", bob))


def test_management_api__writes_count_too__a_refused_write_changes_nothing(
        client, django_user_model, project):
    alice = user_of(django_user_model, project.organization, "alice")
    for _ in range(LIMIT):
        send(client, "GET", "/api/v1/projects/", alice)
    refused = send(client, "POST", "/api/v1/projects/", alice, {"key": "late", "name": "Late"})
    assert refused.status_code == 429
    assert not project.organization.projects.filter(key="late").exists()


def test_session_read_api__per_key(client, organization):
    reader, other = api_key(organization, "read"), api_key(organization, "read")
    assert_budget(lambda: send(client, "GET", "/api/sessions", reader),
                  lambda: send(client, "GET", "/api/sessions", other))


def test_company_publish__per_key(client, organization):
    publisher, other = api_key(organization, "publish"), api_key(organization, "publish")
    update = {"companyId": organization.slug, "type": "metric", "data": {"n": 1}}
    assert_budget(lambda: send(client, "POST", "/stream/publish", publisher, update),
                  lambda: send(client, "POST", "/stream/publish", other, update))


def test_task_endpoints__per_key_and_per_user(client, django_user_model, organization):
    base = f"/agent-to-agent/{organization.slug}/writer/tasks"
    member = user_of(django_user_model, organization, "app", role="viewer")
    agent, other_agent = api_key(organization, "agent"), api_key(organization, "agent")
    assert send(client, "POST", f"{base}/", member, {"id": "t-1"}).status_code == 201
    assert_budget(lambda: send(client, "GET", f"{base}/t-1", agent),
                  lambda: send(client, "GET", f"{base}/t-1", other_agent))
    reader = user_of(django_user_model, organization, "reader", role="viewer")
    colleague = user_of(django_user_model, organization, "colleague", role="viewer")
    assert_budget(lambda: send(client, "GET", f"{base}/t-1", reader),
                  lambda: send(client, "GET", f"{base}/t-1", colleague))
