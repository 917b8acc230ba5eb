"""Every answer under /api/, /ofrep/ and /ws is JSON in the project's error shape (issue 15,
defect 2): Django's own 404, 405 and too-large-body answers included."""

import pytest

from flags.models import FlagState

pytestmark = pytest.mark.django_db

BIG = b'{"context": {"x": "' + b"a" * (5 * 1024 * 1024) + b'"}}'


def assert_json_error(response, status, error):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == error, response.json()


def test_unknown_api_path__404_json(client):
    assert_json_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_websocket_path_over_http__404_json(client):
    assert_json_error(client.get("/ws"), 404, "not_found")


def test_sdk_evaluate_with_get__405_json_with_allow(client):
    response = client.get("/api/sdk/evaluate")
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/api/sdk/evaluate", "/ofrep/v1/evaluate/flags"])
def test_sdk_body_too_large__413_json_naming_body(client, path, development, actor):
    from flags import services

    _, raw_key = services.sdk_key_create(environment=development, kind="server", actor=actor)
    response = client.post(path, BIG, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert_json_error(response, 413, "payload_too_large")
    assert "body" in response.json()["fields"]


def test_management_patch_too_large__413_json_and_nothing_changed(api_as, editor, color_flag):
    url = "/api/v1/projects/demo/environments/development/flags/button-color/"
    before = FlagState.objects.get(flag=color_flag, environment__key="development").version
    response = api_as(editor).generic("PATCH", url, BIG, content_type="application/json")
    assert_json_error(response, 413, "payload_too_large")
    assert FlagState.objects.get(flag=color_flag,
                                 environment__key="development").version == before


def test_pages_outside_the_api__still_html(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_nul_character_in_a_parameter__400_not_500(db, api_as, viewer, project):
    """Found by the schema fuzz on PostgreSQL, which takes no NUL in text: a 500 there."""
    answer = api_as(viewer).get("/api/v1/projects/demo/", {"organization": "a\x00b"})
    assert answer.status_code in (400, 404), answer.content  # 404 where SQLite looks it up
    assert answer.json()["error"] in ("validation_error", "not_found")
