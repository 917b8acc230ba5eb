"""Guessing passwords (issue 14, security): failed logins are limited per username and per
client address on every way in — the token API, the login page and the admin's login — and
a limited client is told when to come back (429, Retry-After)."""

import uuid

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    name = f"guessed-{uuid.uuid4().hex[:8]}"
    return django_user_model.objects.create_user(name, password="right-Password-1",
                                                 is_staff=True)


def address() -> str:
    """Each test its own client address: the per-address counter is shared by the process."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def token(client, username, password, remote):
    return client.post("/api/auth/token", {"username": username, "password": password},
                       content_type="application/json", REMOTE_ADDR=remote)


def test_token__ten_wrong_passwords__even_the_right_one_refused_with_retry_after(client, user):
    remote = address()
    for _ in range(10):
        assert token(client, user.username, "guess", remote).status_code == 401
    refused = token(client, user.username, "right-Password-1", remote)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # the same username from another address is limited too: the username's counter
    assert token(client, user.username, "right-Password-1", address()).status_code == 429


def test_token__under_the_limit__the_right_password_still_works(client, user):
    remote = address()
    for _ in range(9):
        token(client, user.username, "guess", remote)
    assert token(client, user.username, "right-Password-1", remote).status_code == 200


@override_settings(AUTH_FAILURES_PER_ADDRESS_PER_MINUTE=5)
def test_token__one_address_guessing_many_usernames__limited(client, user):
    remote = address()
    for n in range(5):
        assert token(client, f"nobody-{n}", "guess", remote).status_code == 401
    assert token(client, user.username, "right-Password-1", remote).status_code == 429
    assert token(client, user.username, "right-Password-1", address()).status_code == 200


@override_settings(AUTH_FAILURES_PER_ADDRESS_PER_MINUTE=0,
                   AUTH_FAILURES_PER_USERNAME_PER_MINUTE=0)
def test_token__limits_off__never_refused(client, user):
    remote = address()
    for _ in range(15):
        assert token(client, user.username, "guess", remote).status_code == 401
    assert token(client, user.username, "right-Password-1", remote).status_code == 200


@override_settings(AUTH_FAILURES_PER_ADDRESS_PER_MINUTE=3)
def test_refresh__guessed_tokens__limited_per_address(client):
    remote = address()
    for _ in range(3):
        answer = client.post("/api/auth/token/refresh", {"refresh": "guess"},
                             content_type="application/json", REMOTE_ADDR=remote)
        assert answer.status_code == 401
    answer = client.post("/api/auth/token/refresh", {"refresh": "guess"},
                         content_type="application/json", REMOTE_ADDR=remote)
    assert answer.status_code == 429 and int(answer["Retry-After"]) >= 1


def test_login_page__after_failures__429_page_and_no_session(client, user):
    remote = address()
    for _ in range(10):
        page = client.post("/accounts/login/", {"username": user.username, "password": "x"},
                           REMOTE_ADDR=remote)
        assert page.status_code == 200  # the form again, with its error
    page = client.post("/accounts/login/", {"username": user.username,
                                            "password": "right-Password-1"}, REMOTE_ADDR=remote)
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert b"Too many failed attempts" in page.content
    assert "_auth_user_id" not in client.session


def test_admin_login__failures_through_the_api__admin_refuses_the_right_password(client, user):
    remote = address()
    for _ in range(10):
        token(client, user.username, "guess", remote)
    page = client.post("/admin/login/", {"username": user.username,
                                         "password": "right-Password-1"}, REMOTE_ADDR=remote)
    assert page.status_code == 200 and "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to log in
