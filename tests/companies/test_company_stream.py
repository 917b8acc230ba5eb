"""Company live updates in process (issue 12, items 1, 3 and 6): who may open
/stream/updates, what it carries, replay, the per-company switch, a removed member, tokens and
POST /stream/publish. Every credential failure answers JSON."""

import asyncio
import json

import pytest
from django.contrib.auth import get_user_model

from companies.tokens import AUDIENCE
from config.asgi import application
from tenancy import services as tenancy_services
from tenancy.models import Membership, Organization
from tenancy.tokens import access_token_issue
from tests.streaming.asgi_client import Stream
from tests.streaming.test_backbone import fast_backbone, run  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/stream/updates"


@pytest.fixture
def companies(organization):
    other = Organization.objects.create(slug="globex", name="Globex")
    users = get_user_model().objects
    member = users.create_user("dash", password="pw")
    outsider = users.create_user("outsider", password="pw")
    Membership.objects.create(user=member, organization=organization, role="viewer")
    Membership.objects.create(user=outsider, organization=other, role="viewer")
    _, key = tenancy_services.api_key_create(organization=organization, scopes=["publish"])
    _, other_key = tenancy_services.api_key_create(organization=other, scopes=["publish"])
    return {"acme": organization, "globex": other, "member": member, "outsider": outsider,
            "key": key, "other_key": other_key}


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {access_token_issue(user)}"}


def publish(client, key, body):
    return client.post("/stream/publish", json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}")


def opened(query, headers=None) -> tuple[int, dict | str]:
    async def scenario():
        stream = Stream(application, PATH, query, headers or {})
        await stream.wait_for(lambda s: s.ended.is_set() or b"stream-open" in s.body)
        await stream.close()
        return stream

    stream = run(scenario())
    if stream.status != 200:
        return stream.status, json.loads(stream.body)
    return stream.status, stream.body.decode()


def test_open__members_only__json_refusals(companies):
    member, outsider = companies["member"], companies["outsider"]
    assert opened("companyId=acme")[0] == 401
    status, body = opened("", bearer(member))
    assert (status, body["error"]) == (400, "validation_error") and "companyId" in body["fields"]
    assert opened("companyId=nope", bearer(member))[0] == 404
    assert opened("companyId=nope")[0] == 401  # no credentials: unknown ids are not told
    status, body = opened("companyId=globex", bearer(member))  # another company's id
    assert (status, body["error"]) == (403, "permission_denied")
    assert opened("companyId=acme", {"Authorization": "Bearer wrong"})[0] == 401
    assert opened("companyId=acme", bearer(member))[0] == 200
    assert opened("companyId=globex", bearer(outsider))[0] == 200
    member.is_active = False
    member.save()
    assert opened("companyId=acme", bearer(member))[0] == 401


def test_token__member_gets_one__opens_only_its_company_and_is_never_a_login(client, companies):
    member = companies["member"]
    assert client.post("/stream/token?companyId=acme").status_code == 401
    answer = client.post("/stream/token?companyId=acme", **{
        "HTTP_AUTHORIZATION": f"Bearer {access_token_issue(member)}"})
    assert answer.status_code == 201, answer.json()
    token = answer.json()["token"]
    assert opened(f"companyId=acme&token={token}")[0] == 200
    status, body = opened(f"companyId=globex&token={token}")
    assert status == 403 and body["error"] == "wrong_company"
    # A login JWT is no stream token, and a stream token is no login.
    status, body = opened(f"companyId=acme&token={access_token_issue(member)}")
    assert (status, body["error"]) == (401, "invalid_token")
    assert client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code \
        == 401
    assert client.post("/stream/token?companyId=globex", HTTP_AUTHORIZATION=f"Bearer "
                       f"{access_token_issue(member)}").status_code == 403
    import jwt
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == AUDIENCE


def test_token__5_per_30_s__then_429_with_retry_after(client, companies):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {access_token_issue(companies['member'])}"}
    codes = [client.post("/stream/token?companyId=acme", **headers).status_code
             for _ in range(6)]
    assert codes == [201] * 5 + [429]
    assert client.post("/stream/token?companyId=acme", **headers)["Retry-After"]


def test_publish__reaches_its_company_only__with_ids_and_replay(client, companies):
    member, outsider = companies["member"], companies["outsider"]

    async def scenario():
        mine = Stream(application, PATH, "companyId=acme", bearer(member))
        theirs = Stream(application, PATH, "companyId=globex", bearer(outsider))
        for stream in (mine, theirs):
            await stream.wait_for(lambda s: b"stream-open" in s.body)
        answers = await asyncio.to_thread(lambda: [
            publish(client, companies["key"], {"companyId": "acme", "type": "metric_updated",
                                               "data": {"metric": "sroi", "value": 3.2}}),
            publish(client, companies["key"], {"events": [
                {"companyId": "acme", "type": "journey_flag_updated", "data": {"n": 1}},
                {"companyId": "acme", "type": "custom.thing", "data": {"n": 2}}]}),
            publish(client, companies["other_key"], {"companyId": "globex",
                                                     "type": "vis_updated", "data": {}})])
        await mine.wait_for(lambda s: len(s.events("custom.thing")) == 1)
        await theirs.wait_for(lambda s: len(s.events("vis_updated")) == 1)
        await asyncio.sleep(0.3)
        for stream in (mine, theirs):
            await stream.close()
        return answers, mine, theirs

    answers, mine, theirs = run(scenario())
    assert [a.status_code for a in answers] == [202, 202, 202]
    events = [f for f in mine.frames if f.event not in ("stream-open",)]
    assert [(f.event, json.loads(f.data)) for f in events] == [
        ("metric_updated", {"metric": "sroi", "value": 3.2, "companyId": "acme"}),
        ("journey_flag_updated", {"n": 1, "companyId": "acme"}),
        ("custom.thing", {"n": 2, "companyId": "acme"})]
    assert all(f.id for f in events)
    assert [f.event for f in theirs.frames if f.event != "stream-open"] == ["vis_updated"]
    # Resume after the first: exactly the two that followed, by header and by query.
    first = events[0].id
    for query, headers in (("companyId=acme", {**bearer(member), "Last-Event-ID": first}),
                           (f"companyId=acme&lastEventId={first}", bearer(member))):
        status, body = opened(query, headers)
        assert status == 200
        assert "journey_flag_updated" in body and "custom.thing" in body
        assert "metric_updated" not in body


def test_publish__credentials_and_bad_input__json_naming_the_field_nothing_published(
        client, companies):
    good = {"companyId": "acme", "type": "metric_updated", "data": {"v": 1}}
    assert client.post("/stream/publish", json.dumps(good),
                       content_type="application/json").status_code == 401
    assert publish(client, "ap_live_wrong", good).status_code == 401
    key, raw = tenancy_services.api_key_create(organization=companies["acme"],
                                               scopes=["ingest"])
    assert publish(client, raw, good).status_code == 403
    tenancy_services.api_key_revoke(api_key=key)
    assert publish(client, raw, good).status_code == 401
    answer = publish(client, companies["other_key"], good)  # another company's key
    assert answer.status_code == 403 and "companyId" in answer.json()["fields"]
    answer = publish(client, companies["key"], {**good, "type": "bad type!"})
    assert answer.status_code == 400 and "type" in answer.json()["fields"]
    answer = publish(client, companies["key"], {"events": [good, {**good, "data": []}]})
    assert answer.status_code == 400 and "events[1].data" in answer.json()["fields"]
    from django_eventstream.models import Event
    assert not Event.objects.filter(channel__startswith="company-").exclude(type="").exists()


def test_switch_and_removal__open_streams_end__new_ones_refused(client, companies):
    member = companies["member"]
    acme = companies["acme"]

    async def until_ended(action):
        stream = Stream(application, PATH, "companyId=acme", bearer(member))
        await stream.wait_for(lambda s: b"stream-open" in s.body)
        await asyncio.to_thread(action)
        await stream.wait_for(lambda s: s.ended.is_set())
        return stream

    stream = run(until_ended(lambda: tenancy_services.organization_streaming_set(
        organization=acme, enabled=False)))
    assert b"stream-error" in stream.body
    status, body = opened("companyId=acme", bearer(member))
    assert (status, body["error"]) == (403, "streaming_disabled")
    assert publish(client, companies["key"], {"companyId": "acme", "type": "x",
                                              "data": {}}).status_code == 403
    tenancy_services.organization_streaming_set(organization=acme, enabled=True)
    stream = run(until_ended(lambda: tenancy_services.membership_remove(
        membership=Membership.objects.get(user=member, organization=acme))))
    assert b"stream-error" in stream.body
    assert opened("companyId=acme", bearer(member))[0] == 403


def test_openapi__company_endpoints_documented(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "post" in paths["/stream/token"] and "post" in paths["/stream/publish"]
    assert "text/event-stream" in paths["/stream/updates"]["get"]["responses"]["200"]["content"]
    for path in ("/stream/stats", "/stream/health", "/metrics"):
        assert "200" in paths[path]["get"]["responses"], path


def test_heartbeat__company_streams_their_own_interval(companies, settings):
    """COMPANY_STREAM_HEARTBEAT_SECONDS paces company streams, whatever the global interval."""
    settings.STREAM_HEARTBEAT_SECONDS = 60
    settings.COMPANY_STREAM_HEARTBEAT_SECONDS = 0.2

    async def scenario():
        stream = Stream(application, PATH, "companyId=acme", bearer(companies["member"]))
        await stream.wait_for(lambda s: s.body.count(b"\n:\n") >= 2, timeout=5)
        await stream.close()
        return stream

    assert run(scenario()).body.count(b"\n:\n") >= 2
