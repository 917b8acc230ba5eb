"""The OpenAPI schema covers every endpoint: the management API, the SDK API, OFREP and the
streams (issue 15, defect 9), with unique operation ids and references that resolve."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_schema__sdk_ofrep_and_stream_endpoints__documented(schema):
    paths = schema["paths"]
    for path, method in [("/api/sdk/flags", "get"), ("/api/sdk/evaluate", "post"),
                         ("/ofrep/v1/evaluate/flags/{key}", "post"),
                         ("/ofrep/v1/evaluate/flags", "post")]:
        assert method in paths[path], path
    from streaming.kinds import registry

    for kind in registry.kinds.values():  # every stream kind, the tests' throw-away one too
        responses = paths[kind.path]["get"]["responses"]
        assert "text/event-stream" in responses["200"]["content"], kind.path


def test_schema__operation_ids__unique_and_only_methods_that_exist(schema, client):
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    scheduled = schema["paths"][
        "/api/v1/projects/{project}/environments/{env}/flags/{flag}/scheduled-changes/"]
    assert set(scheduled) == {"get", "post"}


def test_schema__every_reference__resolves(schema):
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    schemes = set(schema["components"]["securitySchemes"])
    for ref in refs(schema):
        name = ref.rsplit("/", 1)[1]
        assert name in schema["components"]["schemas"], ref
    for _, _, operation in operations(schema):
        for requirement in operation.get("security", []):
            assert set(requirement) <= schemes, requirement
