"""The analytics dashboard API (issue 13, item 3): series per variant with distinct contexts
and the flag's changes, per-flag summaries (sortable), stale flags, custom-event series,
unknown flags; who may read them; bad parameters named."""

import datetime

import pytest
from django.utils import timezone

from analytics import services
from analytics.ingest import batch_read
from flags import services as flag_services
from tests.conftest import TEST_ACTOR, bearer_client

pytestmark = pytest.mark.django_db
BASE = "/api/projects/demo/analytics"


def days_ago(n: int) -> str:
    return (timezone.now() - datetime.timedelta(days=n)).date().isoformat()


@pytest.fixture(autouse=True)
def settle(settings):
    settings.ANALYTICS_ROLLUP_SETTLE_SECONDS = -1


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def counted(development, production, color_flag, bool_flag):
    """Two hours of evaluations and events in development, rolled up."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    one, two = hour - datetime.timedelta(hours=2), hour - datetime.timedelta(hours=1)
    body = {"evaluations": [
        {"flagKey": "button-color", "variant": v, "contextId": c, "timestamp": iso(t)}
        for v, c, t in [("red", "u1", one), ("red", "u1", one), ("blue", "u2", one),
                        ("red", "u3", two), ("red", "u1", two)]]
        + [{"flagKey": "old-flag", "variant": "on", "contextId": "u1", "timestamp": iso(two)}],
        "events": [{"name": "checkout_completed", "contextId": c, "value": v,
                    "timestamp": iso(t)} for c, v, t in [("u1", 10, one), ("u2", 5, one),
                                                         ("u1", 2.5, two)]]}
    services.events_ingest(development, "dash", batch_read(body))
    services.analytics_rollup()
    return {"one": one, "two": two, "from": iso(one - datetime.timedelta(hours=1))}


def test_flag_series__per_variant_hour_by_hour_with_contexts_and_changes(viewer, counted,
                                                                          color_flag,
                                                                          development):
    state = color_flag.states.get(environment=development)
    flag_services.flag_state_update(state=state, enabled=True, actor=TEST_ACTOR)
    api = bearer_client(viewer)
    response = api.get(f"{BASE}/flags/button-color/evaluations",
                       {"environment": "development", "from": counted["from"]})
    assert response.status_code == 200, response.content
    body = response.json()
    one, two = iso(counted["one"]), iso(counted["two"])
    assert body["variants"] == {
        "blue": [{"time": one, "evaluations": 1, "contexts": 1}],
        "red": [{"time": one, "evaluations": 2, "contexts": 1},
                {"time": two, "evaluations": 2, "contexts": 2}]}
    assert body["totals"] == {"blue": 1, "red": 4} and body["known"] is True
    assert [(c["action"], c["source"]) for c in body["changes"]] == [("flag_enabled", "command")]
    day = api.get(f"{BASE}/flags/button-color/evaluations",
                  {"environment": "development", "interval": "day"}).json()
    assert sum(p["evaluations"] for p in day["variants"]["red"]) == 4
    if counted["one"].date() == counted["two"].date():
        assert day["variants"]["red"][0]["contexts"] == 2  # u1 and u3 that day, not 3


def test_flag_summary__sortable(viewer, counted):
    api = bearer_client(viewer)
    rows = api.get(f"{BASE}/flags", {"environment": "development"}).json()["flags"]
    assert [(r["flagKey"], r["evaluations"]) for r in rows] == [("button-color", 5),
                                                                ("new-checkout", 0)]
    assert rows[0]["variants"] == {"red": 4, "blue": 1} and rows[0]["lastEvaluated"]
    assert rows[1]["lastEvaluated"] is None
    by_key = api.get(f"{BASE}/flags", {"environment": "development", "sort": "flagKey"})
    assert [r["flagKey"] for r in by_key.json()["flags"]] == ["button-color", "new-checkout"]
    both = api.get(f"{BASE}/flags").json()["flags"]  # every environment
    assert {(r["flagKey"], r["environment"]) for r in both} == {
        ("button-color", "development"), ("button-color", "production"),
        ("new-checkout", "development"), ("new-checkout", "production")}


def test_stale__neither_evaluated_nor_changed(viewer, counted, bool_flag, settings):
    from flags.models import AuditLog, Flag

    long_ago = timezone.now() - datetime.timedelta(days=40)
    Flag.objects.update(created_at=long_ago)
    AuditLog.objects.update(created_at=long_ago)
    body = bearer_client(viewer).get(f"{BASE}/stale", {"days": 30}).json()
    stale = {e["environment"]: [f["flagKey"] for f in e["flags"]] for e in body["environments"]}
    assert stale == {"development": ["new-checkout"],  # button-color was evaluated
                     "production": ["button-color", "new-checkout"]}


def test_custom_event_series(viewer, counted):
    body = bearer_client(viewer).get(f"{BASE}/events/checkout_completed",
                                     {"environment": "development",
                                      "from": counted["from"]}).json()
    assert body["points"] == [
        {"time": iso(counted["one"]), "count": 2, "sum": 15.0, "contexts": 2},
        {"time": iso(counted["two"]), "count": 1, "sum": 2.5, "contexts": 1}]


def test_unknown_flags(viewer, counted):
    body = bearer_client(viewer).get(f"{BASE}/unknown-flags").json()
    assert [(f["flagKey"], f["environment"], f["evaluations"]) for f in body["flags"]] == [
        ("old-flag", "development", 1)]


@pytest.mark.parametrize("path, params, field", [
    ("/flags/button-color/evaluations", {}, "environment"),
    ("/flags/button-color/evaluations", {"environment": "development", "interval": "week"},
     "interval"),
    ("/flags/button-color/evaluations", {"environment": "development", "from": "soon"}, "from"),
    ("/flags/button-color/evaluations", {"environment": "development",
                                         "from": "2026-01-01", "to": "2025-01-01"}, "from"),
    ("/flags/button-color/evaluations", {"environment": "development",
                                         "from": days_ago(100)}, "from"),  # over 90 days
    ("/flags/button-color/evaluations", {"environment": "development",
                                         "from": days_ago(40)}, "interval"),  # hourly > 31 d
    ("/flags", {"sort": "colour"}, "sort"),
    ("/stale", {"days": "0"}, "days"),
])
def test_bad_parameters__400_naming_them(viewer, counted, path, params, field):
    response = bearer_client(viewer).get(BASE + path, params)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_not_found__unknown_environment_project_or_flag(viewer, counted):
    api = bearer_client(viewer)
    assert api.get(f"{BASE}/flags/nothing-like-it/evaluations",
                   {"environment": "development"}).status_code == 404
    assert api.get(f"{BASE}/flags", {"environment": "staging"}).status_code == 404
    assert api.get("/api/projects/nope/analytics/flags").status_code == 404


@pytest.mark.parametrize("path", ["/flags", "/stale", "/unknown-flags",
                                  "/events/checkout_completed",
                                  "/flags/button-color/evaluations?environment=development"])
def test_credentials__none_or_wrong_401__other_organization_404(client, outsider, counted,
                                                                path):
    response = client.get(BASE + path)
    assert response.status_code == 401 and response.json()["error"]
    wrong = client.get(BASE + path, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert wrong.status_code == 401 and wrong.json()["error"]
    assert bearer_client(outsider).get(BASE + path).status_code == 404


def test_staff_session__reads(client, counted, organization):
    from tests.factories import MembershipFactory, UserFactory

    staff = UserFactory(username="staff-reader", is_staff=True)
    MembershipFactory(organization=organization, role="viewer", user=staff)
    client.force_login(staff)
    assert client.get(f"{BASE}/flags").status_code == 200


def test_live_page__staff_only__own_projects_only(client, counted, organization, viewer,
                                                  outsider):
    from tests.factories import MembershipFactory, UserFactory

    response = client.get("/live/analytics/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(viewer)  # a member, not staff
    assert client.get("/live/analytics/").status_code == 302
    staff = UserFactory(username="staff-page", is_staff=True)
    MembershipFactory(organization=organization, role="viewer", user=staff)
    client.force_login(staff)
    page = client.get("/live/analytics/", {"environment": "development"})
    assert page.status_code == 200 and b"/api/projects/demo/analytics/flags?" in page.content
    assert client.get("/live/analytics/", {"environment": "staging"}).status_code == 404
    assert client.get("/live/analytics/", {"project": "not-mine"}).status_code == 404
