"""Bad input gets a 400 naming the field, and nothing is saved."""

import pytest

from flags.models import AuditLog, Flag, FlagState, Segment

pytestmark = pytest.mark.django_db

P = "/api/v1/projects/demo"
STATE = f"{P}/environments/development/flags/button-color/"


@pytest.fixture
def client(api_as, editor, color_flag, bool_flag):
    return api_as(editor)


def state_row():
    return FlagState.objects.get(flag__key="button-color", environment__key="development")


def assert_field_error(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in body["fields"], body
    assert field in body["detail"] or body["detail"]


@pytest.mark.parametrize("patch,field", [
    ({"rules": [{"constraints": [], "variant": "purple"}]}, "rules.0.variant"),
    ({"defaultRule": {"distribution": [{"variant": "red", "weight": 60},
                                       {"variant": "blue", "weight": 30}]}},
     "defaultRule.distribution"),
    ({"defaultRule": {"distribution": [{"variant": "red", "weight": -10},
                                       {"variant": "blue", "weight": 110}]}},
     "defaultRule.distribution.0.weight"),
    ({"defaultRule": {"distribution": [{"variant": "red", "weight": 50},
                                       {"variant": "pink", "weight": 50}]}},
     "defaultRule.distribution.1.variant"),
    ({"defaultRule": {"variant": "red", "distribution": []}}, "defaultRule"),
    ({"defaultRule": "red"}, "defaultRule"),
    ({"offVariant": "purple"}, "offVariant"),
    ({"enabled": "maybe"}, "enabled"),
    ({"rules": {"not": "a list"}}, "rules"),
    ({"rules": [{"constraints": [{"attribute": "country", "operator": "like",
                                  "values": ["US"]}], "variant": "red"}]},
     "rules.0.constraints.0.operator"),
    ({"rules": [{"constraints": [{"attribute": "age", "operator": "gt", "values": ["old"]}],
                 "variant": "red"}]}, "rules.0.constraints.0.values.0"),
    ({"rules": [{"constraints": [{"operator": "segment_match", "values": ["ghosts"]}],
                 "variant": "red"}]}, "rules.0.constraints.0.values.0"),
    ({"rules": [{"constraints": [], "variant": "red", "colour": "x"}]}, "rules.0.colour"),
    ({"prerequisites": [{"flag": "nope", "variant": "true"}]}, "prerequisites.0.flag"),
    ({"prerequisites": [{"flag": "new-checkout", "variant": "maybe"}]},
     "prerequisites.0.variant"),
    ({"prerequisites": [{"flag": "button-color", "variant": "red"}]}, "prerequisites.0.flag"),
    ({"default_rule": {"variant": "red"}}, "default_rule"),
])
def test_state_patch__invalid__400_names_field_and_saves_nothing(client, patch, field):
    # Given
    before = state_row()
    audit_count = AuditLog.objects.count()
    # When
    response = client.patch(STATE, patch, format="json")
    # Then
    assert_field_error(response, field)
    after = state_row()
    assert (after.version, after.rules, after.default_rule, after.off_variant) == (
        before.version, before.rules, before.default_rule, before.off_variant)
    assert AuditLog.objects.count() == audit_count


def test_state_patch__prerequisite_cycle__400(client):
    # Given new-checkout requires button-color=red in development
    response = client.patch(f"{P}/environments/development/flags/new-checkout/",
                            {"prerequisites": [{"flag": "button-color", "variant": "red"}]},
                            format="json")
    assert response.status_code == 200
    # When button-color is made to require new-checkout
    response = client.patch(STATE, {"prerequisites": [{"flag": "new-checkout",
                                                       "variant": "true"}]}, format="json")
    # Then
    assert_field_error(response, "prerequisites.0.flag")
    assert "cycle" in response.json()["detail"]


def test_state_patch__malformed_json__400_parse_error(client):
    response = client.generic("PATCH", STATE, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


@pytest.mark.parametrize("header", ["abc", '"x"'])
def test_state_patch__bad_if_match__400_names_header(client, header):
    response = client.patch(STATE, {"enabled": True}, format="json", HTTP_IF_MATCH=header)
    assert_field_error(response, "If-Match")


def test_state_patch__stale_if_match__412_and_nothing_saved(client):
    version = state_row().version
    response = client.patch(STATE, {"enabled": True}, format="json",
                            HTTP_IF_MATCH=f'"{version + 5}"')
    assert response.status_code == 412
    assert response.json()["currentVersion"] == version
    assert state_row().enabled is False


def test_state_patch__current_if_match__applies_and_bumps_version(client):
    etag = client.get(STATE)["ETag"]
    response = client.patch(STATE, {"enabled": True}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["version"] == int(etag.strip('"')) + 1
    assert response["ETag"] == f'"{response.json()["version"]}"'


def test_state_patch__valid_rules_and_split__served_back(client):
    patch = {"rules": [{"constraints": [{"attribute": "country", "operator": "in",
                                         "values": ["US", "CA"]}], "variant": "green"}],
             "defaultRule": {"distribution": [{"variant": "red", "weight": 33.333},
                                              {"variant": "blue", "weight": 66.667}]}}
    response = client.patch(STATE, patch, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["rules"][0]["variant"] == "green" and body["rules"][0]["id"]
    assert body["defaultRule"] == patch["defaultRule"]


@pytest.mark.parametrize("body,field", [
    ({}, "key"),
    ({"key": "has space"}, "key"),
    ({"key": "button-color"}, "key"),
    ({"key": "f", "kind": "date"}, "kind"),
    ({"key": "f", "kind": "string"}, "variants"),
    ({"key": "f", "kind": "string", "variants": [{"key": "a", "value": 1}]}, "variants.0.value"),
    ({"key": "f", "kind": "number", "variants": [{"key": "a", "value": True}]},
     "variants.0.value"),
    ({"key": "f", "kind": "json", "variants": [{"key": "a", "value": "x"}]}, "variants.0.value"),
    ({"key": "f", "kind": "string", "variants": [{"key": "a", "value": "x"},
                                                 {"key": "a", "value": "y"}]}, "variants.1.key"),
    ({"key": "f", "kind": "string", "variants": [{"value": "x"}]}, "variants.0.key"),
    ({"key": "f", "tags": "ui"}, "tags"),
    ({"key": "f", "colour": "red"}, "colour"),
])
def test_flag_create__invalid__400_names_field_and_creates_nothing(client, body, field):
    count = Flag.objects.count()
    assert_field_error(client.post(f"{P}/flags/", body, format="json"), field)
    assert Flag.objects.count() == count


def test_flag_create__string_flag__states_in_every_environment(client):
    response = client.post(f"{P}/flags/", {"key": "theme", "kind": "string", "tags": ["ui"],
                                           "variants": [{"key": "dark", "value": "dark"},
                                                        {"key": "light", "value": "light"}]},
                           format="json")
    assert response.status_code == 201
    assert response.json()["environments"] == {
        "development": {"enabled": False, "version": 1},
        "production": {"enabled": False, "version": 1}}


def test_flag_patch__kind__400(client):
    response = client.patch(f"{P}/flags/button-color/", {"kind": "number"}, format="json")
    assert_field_error(response, "kind")


def test_flag_patch__removes_variant_still_served__400(client):
    client.patch(STATE, {"rules": [{"constraints": [], "variant": "green"}]}, format="json")
    response = client.patch(f"{P}/flags/button-color/", {
        "variants": [{"key": "red", "value": "red"}, {"key": "blue", "value": "blue"}]},
        format="json")
    assert_field_error(response, "variants")
    assert "green" in response.json()["detail"]
    assert len(Flag.objects.get(key="button-color").variants) == 3


def test_flag_patch__tags__filter_by_tag(client):
    client.patch(f"{P}/flags/button-color/", {"tags": ["ui", "experiment"]}, format="json")
    keys = [f["key"] for f in client.get(f"{P}/flags/?tag=experiment").json()["results"]]
    assert keys == ["button-color"]


def test_flag_delete__is_a_prerequisite__409_and_kept(client):
    client.patch(f"{P}/environments/development/flags/new-checkout/",
                 {"prerequisites": [{"flag": "button-color", "variant": "red"}]}, format="json")
    response = client.delete(f"{P}/flags/button-color/")
    assert response.status_code == 409
    assert "new-checkout" in response.json()["detail"]
    assert Flag.objects.filter(key="button-color").exists()


@pytest.mark.parametrize("body,field", [
    ({"key": "s", "constraints": [{"attribute": "a", "operator": "nope", "values": []}]},
     "constraints.0.operator"),
    ({"key": "s", "constraints": [{"operator": "segment_match", "values": ["x"]}]},
     "constraints.0.operator"),
    ({"key": "s", "constraints": "all"}, "constraints"),
    ({"name": "no key"}, "key"),
])
def test_segment_create__invalid__400_names_field(client, body, field):
    assert_field_error(client.post(f"{P}/segments/", body, format="json"), field)
    assert not Segment.objects.exists()


def test_segment_delete__used_by_a_rule__409(client):
    client.post(f"{P}/segments/", {"key": "beta", "constraints": [
        {"attribute": "beta", "operator": "eq", "values": ["true"]}]}, format="json")
    client.patch(STATE, {"rules": [{"constraints": [{"operator": "segment_match",
                                                     "values": ["beta"]}], "variant": "green"}]},
                 format="json")
    response = client.delete(f"{P}/segments/beta/")
    assert response.status_code == 409
    assert Segment.objects.filter(key="beta").exists()


def test_environment_create__duplicate_key__400(api_as, org_admin, color_flag):
    response = api_as(org_admin).post(f"{P}/environments/", {"key": "development"}, format="json")
    assert_field_error(response, "key")


def test_environment_create__new_environment__every_flag_gets_an_off_state(api_as, org_admin,
                                                                           color_flag):
    response = api_as(org_admin).post(f"{P}/environments/", {"key": "staging"}, format="json")
    assert response.status_code == 201
    state = FlagState.objects.get(flag=color_flag, environment__key="staging")
    assert (state.enabled, state.version) == (False, 1)


def test_unknown_project__404(client):
    assert client.get("/api/v1/projects/nope/flags/").status_code == 404


def test_openapi_schema__lists_the_management_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/projects/{project}/environments/{env}/flags/{flag}/" in response.json()["paths"]


# --- strict types and limits (issue 15, defect 3) -----------------------------------------------

@pytest.mark.parametrize("value", ["yes", 0, 1, "true", None])
def test_state_patch__enabled_not_a_json_boolean__400_and_unchanged(client, value):
    before = state_row().version
    assert_field_error(client.patch(STATE, {"enabled": value}, format="json"), "enabled")
    assert state_row().version == before


def test_flag_patch__archived_not_a_json_boolean__400(client):
    assert_field_error(client.patch(f"{P}/flags/button-color/", {"archived": "no"},
                                    format="json"), "archived")
    assert Flag.objects.get(key="button-color").archived is False


def test_state_patch__more_rules_than_the_limit__400_and_unchanged(client):
    from flags.validation import MAX_RULES

    rules = [{"constraints": [{"attribute": "n", "operator": "eq", "values": [str(i)]}],
              "variant": "green"} for i in range(MAX_RULES + 1)]
    before = state_row().version
    response = client.patch(STATE, {"rules": rules}, format="json")
    assert_field_error(response, "rules")
    assert f"at most {MAX_RULES}" in response.json()["fields"]["rules"][0]
    assert state_row().version == before
    assert client.patch(STATE, {"rules": rules[:MAX_RULES]}, format="json").status_code == 200


def test_schedule__time_without_timezone__400_names_scheduled_at(client):
    from flags.models import ScheduledChange

    response = client.post(f"{STATE}scheduled-changes/",
                           {"scheduledAt": "2999-01-01T09:00:00", "changeType": "enable"},
                           format="json")
    assert_field_error(response, "scheduledAt")
    assert "timezone" in response.json()["fields"]["scheduledAt"][0]
    assert not ScheduledChange.objects.exists()


@pytest.mark.parametrize("query,field", [("pageSize=abc", "pageSize"), ("pageSize=0", "pageSize"),
                                         ("archived=maybe", "archived")])
def test_flag_list__malformed_query_parameter__400_names_it(client, query, field):
    assert_field_error(client.get(f"{P}/flags/?{query}"), field)


def test_flag_list__page_size__honoured(client):
    body = client.get(f"{P}/flags/?pageSize=1").json()
    assert len(body["results"]) == 1 and body["count"] == 2
