"""CSRF (issue 14, security): every write a session cookie can make needs the session's CSRF
token — the management API (DRF), the forms, and the views that take a session or a key
(tasks, company stream tokens), which check it themselves once the session is what speaks.
A key or a login token needs none: a browser never sends those on its own."""

import pytest
from django.test import Client

from tenancy.tokens import token_pair_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    client.get("/accounts/login/")  # the page sets the CSRF cookie
    return client


def csrf(client) -> dict:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


WRITES = [
    ("/agent-to-agent/acme/bot/tasks/", {"id": "t-csrf"}, 201),
    ("/stream/token?companyId=acme", None, 201),
    ("/api/v1/projects/demo/flags/", {"key": "csrf-flag"}, 201),
]


@pytest.mark.parametrize("path, body, created", WRITES, ids=[w[0] for w in WRITES])
def test_session_write__without_the_token_refused__with_it_done(browser, project, path, body,
                                                                 created):
    refused = browser.post(path, body, content_type="application/json")
    assert refused.status_code == 403
    assert "csrf" in refused.json()["detail"].lower() or refused.json()["error"] == "csrf_failed"
    done = browser.post(path, body, content_type="application/json", **csrf(browser))
    assert done.status_code == created, done.content


def test_login_token__no_csrf_token_needed(editor, project):
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/agent-to-agent/acme/bot/tasks/", {"id": "t-token"},
                         content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token_pair_issue(editor)['access']}")
    assert answer.status_code == 201
