"""Company live updates against a real server on a real port (issue 12): a publish over HTTP
reaches the right company's httpx-sse client and never another company's; a dropped stream
resumes exactly; stream tokens open only their company; every credential failure is JSON."""

from __future__ import annotations

import httpx
import pytest

from tests.live import LiveStack
from tests.sse_client import SSEReader

pytestmark = pytest.mark.live

SETUP = """
from django.contrib.auth import get_user_model
from tenancy import services
from tenancy.models import Organization
globex = services.organization_create(slug="globex", name="Globex")
user = get_user_model().objects.create_user("globex-viewer", password="pw-globex-1")
services.membership_set(organization=globex, user=user, role="viewer")
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("companyvar")).running() as live:
        live.manage("shell", "-c", SETUP)

        live.acme_user = live.bearer("admin", live.credentials["password"])
        live.globex_user = live.bearer("globex-viewer", "pw-globex-1")
        live.acme_key = live.manage("create_api_key", "acme", "--scope", "publish") \
            .strip().splitlines()[-1]
        live.globex_key = live.manage("create_api_key", "globex", "--scope", "publish") \
            .strip().splitlines()[-1]
        yield live


def publish(stack, key, company, kind, data):
    response = httpx.post(f"{stack.base_url}/stream/publish",
                          json={"companyId": company, "type": kind, "data": data},
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202, response.text


def test_publish__reaches_its_company_only_and_resumes_exactly(stack):
    acme = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme", stack.acme_user)
    globex = SSEReader(f"{stack.base_url}/stream/updates?companyId=globex", stack.globex_user)
    try:
        assert acme.wait_open() == 200 and globex.wait_open() == 200
        publish(stack, stack.acme_key, "acme", "metric_updated", {"metric": "nps", "value": 41})
        publish(stack, stack.globex_key, "globex", "vis_updated", {"chart": "q2q"})
        got = acme.next()
        assert (got.event, got.json) == ("metric_updated", {"metric": "nps", "value": 41,
                                                              "companyId": "acme"})
        assert globex.next().event == "vis_updated"
        assert acme.nothing_for(0.5) and globex.nothing_for(0.2)  # nothing crossed over
    finally:
        acme.close()
        globex.close()
    # Dropped: two more published meanwhile arrive, exactly those, after Last-Event-ID.
    publish(stack, stack.acme_key, "acme", "journey_flag_updated", {"step": 1})
    publish(stack, stack.acme_key, "acme", "sroi_updated", {"sroi": 3.1})
    resumed = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme&lastEventId={got.id}",
                        stack.acme_user)
    try:
        assert [resumed.next().event, resumed.next().event] == ["journey_flag_updated",
                                                                 "sroi_updated"]
        assert resumed.nothing_for(0.5)
    finally:
        resumed.close()


def test_stream_token__opens_its_company_only(stack):
    url = f"{stack.base_url}/stream/token?companyId=acme"
    token = httpx.post(url, headers=stack.acme_user).json()["token"]
    ok = SSEReader(f"{stack.base_url}/stream/updates?companyId=acme&token={token}")
    try:
        assert ok.wait_open() == 200
    finally:
        ok.close()
    for query, status in ((f"companyId=globex&token={token}", 403),
                          ("companyId=acme&token=nonsense", 401),
                          ("companyId=acme", 401), ("companyId=nope", 401)):
        response = httpx.get(f"{stack.base_url}/stream/updates?{query}")
        assert response.status_code == status, query
        assert response.json()["error"]
    response = httpx.get(f"{stack.base_url}/stream/updates?companyId=acme",
                         headers=stack.globex_user)
    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
    assert httpx.post(url, headers=stack.globex_user).status_code == 403
