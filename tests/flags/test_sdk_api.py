"""SDK REST API and OFREP: credentials, shapes, ETags, rate limits."""

import pytest

from flags import services
from tests.conftest import TEST_ACTOR

pytestmark = pytest.mark.django_db


SDK_ENDPOINTS = [
    ("get", "/api/sdk/flags", None),
    ("post", "/api/sdk/evaluate", {"flagKey": "button-color", "context": {"country": "US"}}),
    ("post", "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "u"}}),
    ("post", "/ofrep/v1/evaluate/flags/button-color", {"context": {"country": "US"}}),
]
IDS = [url for _, url, _ in SDK_ENDPOINTS]


def call(client, endpoint, **headers):
    method, url, body = endpoint
    if method == "get":
        return client.get(url, **headers)
    return client.post(url, body or {}, content_type="application/json", **headers)


@pytest.mark.parametrize("endpoint", SDK_ENDPOINTS, ids=IDS)
def test_sdk_endpoint__no_key__401(client, keys, endpoint):
    assert call(client, endpoint).status_code == 401


@pytest.mark.parametrize("endpoint", SDK_ENDPOINTS, ids=IDS)
def test_sdk_endpoint__wrong_key__401(client, keys, endpoint):
    assert call(client, endpoint, HTTP_X_API_KEY="srv-not-a-real-key").status_code == 401


@pytest.mark.parametrize("endpoint", SDK_ENDPOINTS, ids=IDS)
def test_sdk_endpoint__revoked_key__401(client, keys, endpoint):
    assert call(client, endpoint,
                HTTP_AUTHORIZATION=f"Bearer {keys['revoked']}").status_code == 401


@pytest.mark.parametrize("endpoint", SDK_ENDPOINTS, ids=IDS)
def test_sdk_endpoint__management_jwt__401(client, keys, endpoint, org_admin):
    from tenancy.tokens import token_pair_issue

    token = token_pair_issue(org_admin)["access"]
    assert call(client, endpoint, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY", "bearer"])
def test_sdk_flags__server_key_in_any_header__200(client, keys, header):
    if header == "bearer":
        response = client.get("/api/sdk/flags", HTTP_AUTHORIZATION=f"Bearer {keys['server']}")
    else:
        response = client.get("/api/sdk/flags", **{header: keys["server"]})
    assert response.status_code == 200
    assert set(response.json()["flags"]) == {"button-color", "new-checkout"}


def test_sdk_flags__client_key_in_query__200(client, keys):
    assert client.get(f"/api/sdk/flags?sdkKey={keys['client']}").status_code == 200


def test_sdk_flags__server_key_in_query__401_refused(client, keys):
    response = client.get(f"/api/sdk/flags?sdkKey={keys['server']}")
    assert response.status_code == 401
    assert response.json()["error"] == "key_in_url"


def test_sdk_flags__other_environment_key__sees_only_its_environment(client, keys):
    dev = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"]).json()
    prod = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["production"]).json()
    assert (dev["environment"], prod["environment"]) == ("development", "production")
    assert dev["flags"]["button-color"]["enabled"] is True
    assert prod["flags"]["button-color"]["enabled"] is False


def test_sdk_flags__etag__304_until_a_change(client, keys, color_flag, development,
                                            django_capture_on_commit_callbacks):
    first = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"])
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong
    again = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"], HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and again.content == b""
    with django_capture_on_commit_callbacks(execute=True):
        services.flag_state_update(state=color_flag.states.get(environment=development),
                                   off_variant="blue", actor=TEST_ACTOR)
    changed = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"],
                         HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["flags"]["button-color"]["offVariant"] == "blue"


def test_sdk_flags__archived_flag__not_served(client, keys, bool_flag,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.flag_update(flag=bool_flag, archived=True, actor=TEST_ACTOR)
    flags = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"]).json()["flags"]
    assert "new-checkout" not in flags


@pytest.mark.parametrize("body,expected", [
    ({"flagKey": "button-color", "context": {"country": "US", "targetingKey": "u"}},
     {"value": "green", "reason": "TARGETING_MATCH"}),
    ({"flagKey": "button-color", "entityID": "user123", "entityContext": {"country": "CA"}},
     {"value": "green", "variantKey": "green"}),
    ({"flagKey": "button-color", "context": {"country": "FR"}},
     {"value": "red", "reason": "DEFAULT"}),
    ({"flagKey": "nope", "context": {}}, {"value": None, "errorCode": "FLAG_NOT_FOUND"}),
])
def test_sdk_evaluate__one_flag__result(client, keys, body, expected):
    response = client.post("/api/sdk/evaluate", body, content_type="application/json",
                           HTTP_X_API_KEY=keys["client"])
    assert response.status_code == 200
    data = response.json()
    for name, value in expected.items():
        assert data[name] == value


def test_sdk_evaluate__many_flags__default_all(client, keys):
    data = client.post("/api/sdk/evaluate", {"context": {"country": "US"}},
                       content_type="application/json", HTTP_X_API_KEY=keys["server"]).json()
    assert set(data["flags"]) == {"button-color", "new-checkout"}
    assert data["flags"]["button-color"]["value"] == "green"


@pytest.mark.parametrize("body,field", [
    ({"flagKey": "x", "context": "US"}, "context"),
    ({"flagKey": 3}, "flagKey"),
    ({"flags": "button-color"}, "flags"),
    ({"entityID": "u", "entityContext": []}, "entityContext"),
    ({"flagKey": "x", "contxt": {}}, "contxt"),
    ([1, 2], "body"),
])
def test_sdk_evaluate__bad_input__400_names_field(client, keys, body, field):
    response = client.post("/api/sdk/evaluate", body, content_type="application/json",
                           HTTP_X_API_KEY=keys["server"])
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_sdk_evaluate__not_json__400(client, keys):
    response = client.post("/api/sdk/evaluate", "{nope", content_type="application/json",
                           HTTP_X_API_KEY=keys["server"])
    assert response.status_code == 400 and response.json()["error"] == "parse_error"


def test_sdk__rate_limited__429_with_integer_retry_after(client, keys, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SDK_RATE_LIMIT_PER_MINUTE = 2
    codes = [client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"]).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.get("/api/sdk/flags", HTTP_X_API_KEY=keys["server"])
    assert response["Retry-After"].isdigit() and 1 <= int(response["Retry-After"]) <= 60


# --- OFREP ----------------------------------------------------------------------------------

def ofrep(client, url, body, key, **headers):
    return client.post(url, body, content_type="application/json", HTTP_X_API_KEY=key, **headers)


def test_ofrep_flag__success__body_per_spec(client, keys):
    response = ofrep(client, "/ofrep/v1/evaluate/flags/button-color",
                     {"context": {"targetingKey": "u", "country": "US"}}, keys["server"])
    assert response.status_code == 200
    assert response.json() == {"key": "button-color", "value": "green",
                                "reason": "TARGETING_MATCH", "variant": "green",
                                "metadata": {"version": 2}}


def test_ofrep_flag__unknown__404_flag_not_found(client, keys):
    response = ofrep(client, "/ofrep/v1/evaluate/flags/nope", {"context": {}}, keys["server"])
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND" and response.json()["key"] == "nope"


@pytest.mark.parametrize("body,code", [
    ({"context": "x"}, "INVALID_CONTEXT"),
    ("[1]", "INVALID_CONTEXT"),
    ("{bad json", "PARSE_ERROR"),
])
def test_ofrep_flag__bad_request__400_error_code(client, keys, body, code):
    response = client.post("/ofrep/v1/evaluate/flags/button-color", body,
                           content_type="application/json", HTTP_X_API_KEY=keys["server"])
    assert response.status_code == 400
    assert response.json()["errorCode"] == code and response.json()["errorDetails"]


def test_ofrep_flag__split_without_targeting_key__400_targeting_key_missing(
        client, keys, color_flag, development, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.flag_state_update(
            state=color_flag.states.get(environment=development), actor=TEST_ACTOR,
            default_rule={"distribution": [{"variant": "red", "weight": 50},
                                           {"variant": "blue", "weight": 50}]})
    response = ofrep(client, "/ofrep/v1/evaluate/flags/button-color",
                     {"context": {"country": "FR"}}, keys["server"])
    assert response.status_code == 400
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"


def test_ofrep_flag__client_key__403(client, keys):
    response = ofrep(client, "/ofrep/v1/evaluate/flags/button-color", {}, keys["client"])
    assert response.status_code == 403


def test_ofrep_flag__key_in_query__not_accepted(client, keys):
    response = client.post(f"/ofrep/v1/evaluate/flags/button-color?sdkKey={keys['client']}",
                           {}, content_type="application/json")
    assert response.status_code == 401


def test_ofrep_bulk__etag_304_and_event_stream(client, keys):
    first = ofrep(client, "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "u"}},
                  keys["client"])
    assert first.status_code == 200
    body = first.json()
    assert {f["key"] for f in body["flags"]} == {"button-color", "new-checkout"}
    [stream] = body["eventStreams"]
    assert stream["type"] == "sse" and "/ofrep/v1/stream?token=" in stream["url"]
    assert keys["client"] not in stream["url"]
    again = ofrep(client, "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "u"}},
                  keys["client"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    other_context = ofrep(client, "/ofrep/v1/evaluate/flags",
                          {"context": {"targetingKey": "u", "country": "US"}}, keys["client"],
                          HTTP_IF_NONE_MATCH=first["ETag"])
    assert other_context.status_code == 200  # different evaluations, different ETag


def test_ofrep_bulk__invalid_context__400(client, keys):
    response = ofrep(client, "/ofrep/v1/evaluate/flags", {"context": [1]}, keys["client"])
    assert response.status_code == 400 and response.json()["errorCode"] == "INVALID_CONTEXT"


def test_ofrep__rate_limited__429_retry_after_seconds(client, keys, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SDK_RATE_LIMIT_PER_MINUTE = 1
    ofrep(client, "/ofrep/v1/evaluate/flags", {}, keys["client"])
    response = ofrep(client, "/ofrep/v1/evaluate/flags", {}, keys["client"])
    assert response.status_code == 429 and response["Retry-After"].isdigit()
