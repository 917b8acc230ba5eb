"""Every management endpoint against every kind of credential."""

import pytest
from rest_framework.test import APIClient

from flags import services
from tenancy.tokens import token_pair_issue
from tests.conftest import TEST_ACTOR, bearer_client, member

pytestmark = pytest.mark.django_db

P = "/api/v1/projects/demo"
E = f"{P}/environments/development"

# (method, url, body, minimum role, success status). {key} is an SDK key id.
ENDPOINTS = [
    ("post", "/api/v1/projects/", {"organization": "acme", "key": "p2"}, "admin", 201),
    ("get", f"{P}/", None, "viewer", 200),
    ("get", f"{P}/environments/", None, "viewer", 200),
    ("post", f"{P}/environments/", {"key": "staging"}, "admin", 201),
    ("get", f"{E}/", None, "viewer", 200),
    ("get", f"{E}/keys/", None, "admin", 200),
    ("post", f"{E}/keys/", {"kind": "server"}, "admin", 201),
    ("post", f"{E}/keys/{{key}}/revoke/", None, "admin", 200),
    ("post", f"{E}/keys/{{key}}/rotate/", {}, "admin", 201),
    ("get", f"{E}/flags/button-color/", None, "viewer", 200),
    ("get", f"{E}/flags/button-color/scheduled-changes/", None, "viewer", 200),
    ("post", f"{E}/flags/button-color/scheduled-changes/",
     {"scheduledAt": "2999-01-01T00:00:00Z", "changeType": "enable"}, "editor", 201),
    ("get", f"{E}/flags/button-color/scheduled-changes/{{change}}/", None, "viewer", 200),
    ("delete", f"{E}/flags/button-color/scheduled-changes/{{change}}/", None, "editor", 204),
    ("patch", f"{E}/flags/button-color/", {"enabled": True}, "editor", 200),
    ("get", f"{P}/flags/", None, "viewer", 200),
    ("post", f"{P}/flags/", {"key": "f2"}, "editor", 201),
    ("get", f"{P}/flags/button-color/", None, "viewer", 200),
    ("patch", f"{P}/flags/button-color/", {"name": "Colour"}, "editor", 200),
    ("delete", f"{P}/flags/button-color/", None, "editor", 204),
    ("get", f"{P}/flags/button-color/audit/", None, "viewer", 200),
    ("get", f"{P}/segments/", None, "viewer", 200),
    ("post", f"{P}/segments/", {"key": "s2"}, "editor", 201),
    ("get", f"{P}/segments/beta/", None, "viewer", 200),
    ("patch", f"{P}/segments/beta/", {"name": "Beta"}, "editor", 200),
    ("delete", f"{P}/segments/beta/", None, "editor", 204),
]
BELOW = {"editor": "viewer", "admin": "editor"}
IDS = [f"{m.upper()} {u}" for m, u, *_ in ENDPOINTS]


@pytest.fixture
def world(organization, project, development, color_flag):
    services.segment_create(project=project, key="beta", actor=TEST_ACTOR,
                            constraints=[{"attribute": "beta", "operator": "eq",
                                          "values": ["true"]}])
    sdk_key, raw = services.sdk_key_create(environment=development, kind="server",
                                           actor=TEST_ACTOR)
    from datetime import datetime, timezone

    from flags.scheduling import scheduled_change_create

    change = scheduled_change_create(
        state=color_flag.states.get(environment=development), change_type="disable",
        scheduled_at=datetime(2999, 6, 1, tzinfo=timezone.utc), payload={}, actor=TEST_ACTOR)
    return {"key_id": sdk_key.id, "raw_sdk_key": raw, "change_id": change.id}


def call(client, endpoint, world):
    method, url, body, *_ = endpoint
    url = url.format(key=world["key_id"], change=world["change_id"])
    return getattr(client, method)(url, body, format="json")


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    if code:
        assert body["error"] == code


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__no_credentials__401(endpoint, world):
    assert_error(call(APIClient(), endpoint, world), 401, "not_authenticated")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__malformed_token__401(endpoint, world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_error(call(client, endpoint, world), 401, "authentication_failed")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__sdk_key_instead_of_token__401(endpoint, world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['raw_sdk_key']}")
    assert_error(call(client, endpoint, world), 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__token_of_deactivated_user__401(endpoint, world, org_admin):
    client = bearer_client(org_admin)
    org_admin.is_active = False
    org_admin.save()
    assert_error(call(client, endpoint, world), 401, "authentication_failed")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__token_issued_before_password_change__401(endpoint, world, org_admin):
    client = bearer_client(org_admin)
    org_admin.set_password("a-new-password")
    org_admin.save()
    assert_error(call(client, endpoint, world), 401, "authentication_failed")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__other_tenant_admin__404(endpoint, world, outsider):
    assert_error(call(bearer_client(outsider), endpoint, world), 404, "not_found")


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[3] != "viewer"],
                         ids=[i for i, e in zip(IDS, ENDPOINTS) if e[3] != "viewer"])
def test_endpoint__role_below_minimum__403_and_nothing_changed(endpoint, world, organization):
    from flags.models import AuditLog

    before = AuditLog.objects.count()
    user = member(organization, BELOW[endpoint[3]])
    assert_error(call(bearer_client(user), endpoint, world), 403, "permission_denied")
    assert AuditLog.objects.count() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__minimum_role__succeeds(endpoint, world, organization):
    user = member(organization, endpoint[3])
    response = call(bearer_client(user), endpoint, world)
    assert response.status_code == endpoint[4], response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_endpoint__superuser_without_membership__succeeds(endpoint, world, django_user_model):
    root = django_user_model.objects.create_superuser("root", "r@x.io", "pw")
    assert call(bearer_client(root), endpoint, world).status_code == endpoint[4]


def test_projects_list__other_tenant__sees_none_of_ours(world, outsider):
    response = bearer_client(outsider).get("/api/v1/projects/")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_projects_list__viewer__sees_the_project(world, viewer):
    response = bearer_client(viewer).get("/api/v1/projects/")
    assert [p["key"] for p in response.json()["results"]] == ["demo"]


def test_session__logged_in_staff__can_use_the_api(world, client, org_admin):
    client.force_login(org_admin)
    assert client.get(f"{P}/flags/").status_code == 200


def test_session__write_without_csrf_token__403(world, org_admin):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(org_admin)
    response = client.post(f"{P}/flags/", {"key": "x"}, format="json")
    assert response.status_code == 403


def test_token__right_password__returns_access_and_refresh(world, org_admin):
    response = APIClient().post("/api/auth/token",
                                {"username": org_admin.username, "password": "pw-123456"},
                                format="json")
    assert response.status_code == 200
    access = response.json()["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get(f"{P}/").status_code == 200


@pytest.mark.parametrize("body,status,field", [
    ({"username": "acme-admin", "password": "wrong"}, 401, None),
    ({"username": "nobody", "password": "pw-123456"}, 401, None),
    ({"username": "acme-admin"}, 400, "password"),
    ({"password": "x"}, 400, "username"),
])
def test_token__bad_credentials__4xx(world, org_admin, body, status, field):
    response = APIClient().post("/api/auth/token", body, format="json")
    assert response.status_code == status
    if field:
        assert field in response.json()["fields"]


def test_token__deactivated_user__401(world, org_admin):
    org_admin.is_active = False
    org_admin.save()
    response = APIClient().post("/api/auth/token",
                                {"username": org_admin.username, "password": "pw-123456"},
                                format="json")
    assert response.status_code == 401


def test_refresh__refresh_token__new_access_token_works(world, org_admin):
    pair = token_pair_issue(org_admin)
    response = APIClient().post("/api/auth/token/refresh", {"refresh": pair["refresh"]},
                                format="json")
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert client.get(f"{P}/").status_code == 200


def test_refresh__access_token_is_not_a_refresh_token__401(world, org_admin):
    pair = token_pair_issue(org_admin)
    response = APIClient().post("/api/auth/token/refresh", {"refresh": pair["access"]},
                                format="json")
    assert response.status_code == 401


def test_access__refresh_token_used_as_access__401(world, org_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(org_admin)['refresh']}")
    assert client.get(f"{P}/").status_code == 401


def test_access__expired_token__401(world, org_admin, settings):
    settings.JWT_ACCESS_TTL_SECONDS = -1
    client = bearer_client(org_admin)
    response = client.get(f"{P}/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_project__same_key_in_two_of_my_orgs__400_asks_for_organization(world, org_admin):
    from tenancy.models import Membership, Organization

    other = Organization.objects.create(slug="second")
    Membership.objects.create(user=org_admin, organization=other, role="admin")
    services.project_create(organization=other, key="demo", actor=TEST_ACTOR)
    client = bearer_client(org_admin)
    response = client.get(f"{P}/")
    assert response.status_code == 400
    assert "organization" in response.json()["fields"]
    assert client.get(f"{P}/?organization=second").json()["organization"] == "second"


def test_project__superuser_member_of_one_org__own_project_wins_when_keys_clash(world,
                                                                                django_user_model):
    # Given the demo's superuser, admin of acme, and another organization's project "demo"
    # (issue 15, defect 4: every README command answered 400 then)
    from tenancy.models import Membership, Organization

    staff = django_user_model.objects.create_superuser("boss", "b@x.io", "pw")
    acme = Organization.objects.get(slug="acme")
    Membership.objects.create(user=staff, organization=acme, role="admin")
    services.project_create(organization=Organization.objects.create(slug="initech"),
                            key="demo", actor=TEST_ACTOR)
    client = bearer_client(staff)
    # When they use the project by key, Then it is acme's; the other one by naming it
    assert client.get(f"{P}/").json()["organization"] == "acme"
    assert client.get(f"{P}/?organization=initech").json()["organization"] == "initech"
    # and a project created without naming the organization goes to acme
    created = client.post("/api/v1/projects/", {"key": "fresh"}, format="json")
    assert created.status_code == 201 and created.json()["organization"] == "acme"


def test_project__superuser_with_no_membership__clash_still_asks(world, django_user_model):
    from tenancy.models import Organization

    staff = django_user_model.objects.create_superuser("root", "r@x.io", "pw")
    services.project_create(organization=Organization.objects.create(slug="initech"),
                            key="demo", actor=TEST_ACTOR)
    response = bearer_client(staff).get(f"{P}/")
    assert response.status_code == 400 and "organization" in response.json()["fields"]
