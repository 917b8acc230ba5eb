"""The live company dashboard page (issue 12, item 7), as the server draws it: who gets it,
what it starts from, and where its stream carries on. The browser test
(tests/e2e/test_live_company_browser.py) watches it update."""

import json

import pytest
from django.contrib.auth import get_user_model

from companies.channels import company_channel
from companies.events import company_updates_publish
from tenancy.models import Membership, Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(organization):
    user = get_user_model().objects.create_user("dash", password="pw")
    Membership.objects.create(user=user, organization=organization, role="viewer")
    return user


def page_data(response) -> dict:
    text = response.content.decode()
    start = text.index('<script id="page" type="application/json">') + 42
    return json.loads(text[start:text.index("</script>", start)])


def test_logged_out__sent_to_the_login_page_and_back(client):
    response = client.get("/live/company/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/live/company/"
    login = client.get(response["Location"])
    assert login.status_code == 200 and b'name="password"' in login.content


def test_member_login_form__then_the_dashboard_with_what_was_published(client, member,
                                                                      organization):
    company_updates_publish(organization, [
        ("metric_updated", {"metricName": "nps", "value": 41}),
        ("journey_flag_updated", {"userId": "u1", "flag": "struggling"})])
    response = client.post("/accounts/login/", {"username": "dash", "password": "pw",
                                                "next": "/live/company/"})
    assert (response.status_code, response["Location"]) == (302, "/live/company/")
    response = client.get("/live/company/")
    assert response.status_code == 200
    data = page_data(response)
    assert [(u["type"], u["data"]) for u in data["updates"]] == [
        ("metric_updated", {"metricName": "nps", "value": 41, "companyId": "acme"}),
        ("journey_flag_updated", {"userId": "u1", "flag": "struggling", "companyId": "acme"})]
    channel = company_channel(organization.pk)
    assert data["streamUrl"] == f"/stream/updates?companyId=acme&lastEventId={channel}%3A2"
    assert b"uplot/uPlot.iife.min.js" in response.content  # served here, no CDN
    assert b"https://" not in response.content.split(b"<body>")[0]


def test_not_a_member__unknown__switched_off__several_companies(client, member, organization):
    globex = Organization.objects.create(slug="globex", name="Globex")
    client.force_login(member)
    response = client.get("/live/company/?companyId=globex")
    assert response.status_code == 403 and b"not a member of &#x27;globex&#x27;" in response.content
    assert b"Globex" not in response.content  # a company's name is for its members
    assert client.get("/live/company/?companyId=nope").status_code == 404
    organization.streaming_enabled = False
    organization.save()
    response = client.get("/live/company/")
    assert response.status_code == 403 and b"turned off" in response.content
    Membership.objects.create(user=member, organization=globex, role="viewer")
    response = client.get("/live/company/")  # which one? it asks
    assert response.status_code == 200 and b"?companyId=globex" in response.content
    assert client.get("/live/company/?companyId=globex").status_code == 200


def test_member_of_no_company__403_saying_so(client):
    client.force_login(get_user_model().objects.create_user("lonely", password="pw"))
    response = client.get("/live/company/")
    assert response.status_code == 403 and b"member of no company" in response.content
