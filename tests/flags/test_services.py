"""Services: versions, audit entries and change events published after commit."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django_eventstream.models import Event

from flags import events, services
from flags.exceptions import ConflictError, VersionMismatch
from flags.models import AuditLog, FlagState, SDKKey
from flags.selectors import sdk_key_authenticate
from flags.channels import environment_channel
from tests.conftest import TEST_ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


def published(environment):
    """(type, data) of the events stored for an environment's channel, oldest first."""
    rows = Event.objects.filter(channel=environment_channel(environment.id)).exclude(type="")
    return [(row.type, json.loads(json.loads(row.data))) for row in rows.order_by("eid")]


def state_of(flag, environment):
    return FlagState.objects.get(flag=flag, environment=environment)


def test_flag_create__publishes_flag_created_per_environment(color_flag, development, production):
    for environment in (development, production):
        [(event_type, data)] = published(environment)
        assert event_type == "flag_created"
        assert data["flagKey"] == "button-color" and data["version"] == 1
        assert data["flag"]["variants"] == {"red": "red", "green": "green", "blue": "blue"}
        assert data["environment"] == environment.key and data["schema"] == events.SCHEMA


@pytest.mark.parametrize("change,expected_type", [
    ({"enabled": True}, "flag_enabled"),
    ({"default_rule": {"distribution": [{"variant": "red", "weight": 50},
                                        {"variant": "blue", "weight": 50}]}}, "flag_updated"),
    ({"rules": [{"constraints": [], "variant": "green"}]}, "flag_updated"),
    ({"off_variant": "blue"}, "flag_updated"),
])
def test_state_update__event_type_names_the_change(color_flag, development, change,
                                                   expected_type):
    services.flag_state_update(state=state_of(color_flag, development), actor=TEST_ACTOR,
                               **change)
    event_type, data = published(development)[-1]
    assert event_type == expected_type
    assert data["version"] == 2 and data["flag"]["version"] == 2


def test_state_update__only_weights_change__distribution_updated(color_flag, development):
    state = state_of(color_flag, development)
    split = lambda a: {"distribution": [{"variant": "red", "weight": a},  # noqa: E731
                                        {"variant": "blue", "weight": 100 - a}]}
    services.flag_state_update(state=state, default_rule=split(10), actor=TEST_ACTOR)
    services.flag_state_update(state=state, default_rule=split(50), actor=TEST_ACTOR)
    assert published(development)[-1][0] == "distribution_updated"


def test_state_update__turned_off__flag_disabled(color_flag, development):
    state = state_of(color_flag, development)
    services.flag_state_update(state=state, enabled=True, actor=TEST_ACTOR)
    services.flag_state_update(state=state, enabled=False, actor=TEST_ACTOR)
    assert [t for t, _ in published(development)][-2:] == ["flag_enabled", "flag_disabled"]


def test_state_update__every_change_bumps_version_no_op_does_not(color_flag, development):
    state = state_of(color_flag, development)
    s1 = services.flag_state_update(state=state, enabled=True, actor=TEST_ACTOR)
    s2 = services.flag_state_update(state=state, enabled=True, actor=TEST_ACTOR)
    s3 = services.flag_state_update(state=state, off_variant="green", actor=TEST_ACTOR)
    assert (s1.version, s2.version, s3.version) == (2, 2, 3)
    assert len(published(development)) == 3  # created, enabled, updated


def test_state_update__audit_records_who_where_before_after(color_flag, development):
    actor = services.Actor(source="api", label="alice", remote_addr="10.1.2.3")
    services.flag_state_update(state=state_of(color_flag, development), enabled=True,
                               actor=actor)
    entry = AuditLog.objects.filter(flag=color_flag).first()
    assert (entry.action, entry.source, entry.actor_label, entry.remote_addr) == (
        "flag_enabled", "api", "alice", "10.1.2.3")
    assert entry.before["enabled"] is False and entry.after["enabled"] is True
    assert entry.environment == development


def test_state_update__rolled_back_transaction__publishes_nothing(color_flag, development):
    count = len(published(development))
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.flag_state_update(state=state_of(color_flag, development), enabled=True,
                                       actor=TEST_ACTOR)
            raise RuntimeError("boom")
    assert len(published(development)) == count
    assert state_of(color_flag, development).enabled is False


def test_state_update__event_waits_for_commit(color_flag, development):
    count = len(published(development))
    with transaction.atomic():
        services.flag_state_update(state=state_of(color_flag, development), enabled=True,
                                   actor=TEST_ACTOR)
        assert len(published(development)) == count  # not yet
    assert len(published(development)) == count + 1


def test_state_update__expected_version_moved_on__version_mismatch(color_flag, development):
    with pytest.raises(VersionMismatch):
        services.flag_state_update(state=state_of(color_flag, development), enabled=True,
                                   expected_version=7, actor=TEST_ACTOR)


def test_flag_update__bumps_every_environment_and_publishes(color_flag, development, production):
    services.flag_update(flag=color_flag, name="Colour", actor=TEST_ACTOR)
    for environment in (development, production):
        assert state_of(color_flag, environment).version == 2
        assert published(environment)[-1][0] == "flag_updated"


def test_flag_update__archive_then_restore__deleted_then_created(color_flag, development):
    services.flag_update(flag=color_flag, archived=True, actor=TEST_ACTOR)
    services.flag_update(flag=color_flag, archived=False, actor=TEST_ACTOR)
    assert [t for t, _ in published(development)] == ["flag_created", "flag_deleted",
                                                      "flag_created"]


def test_flag_delete__publishes_flag_deleted_and_keeps_audit(color_flag, development):
    services.flag_delete(flag=color_flag, actor=TEST_ACTOR)
    event_type, data = published(development)[-1]
    assert event_type == "flag_deleted" and data["flag"] is None and data["version"] == 2
    entry = AuditLog.objects.filter(action="flag_deleted").get()
    assert entry.subject == "button-color" and entry.before["key"] == "button-color"


def test_segment_update__publishes_segment_updated_with_users(project, color_flag, development):
    segment = services.segment_create(project=project, key="beta", actor=TEST_ACTOR,
                                      constraints=[{"attribute": "b", "operator": "exists",
                                                    "values": []}])
    services.flag_state_update(state=state_of(color_flag, development), actor=TEST_ACTOR,
                               rules=[{"constraints": [{"operator": "segment_match",
                                                        "values": ["beta"]}],
                                       "variant": "green"}])
    services.segment_update(segment=segment, name="Beta testers", actor=TEST_ACTOR,
                            constraints=[])
    event_type, data = published(development)[-1]
    assert event_type == "segment_updated"
    assert data["segmentKey"] == "beta" and data["flags"] == ["button-color"]
    with pytest.raises(ConflictError):
        services.segment_delete(segment=segment, actor=TEST_ACTOR)


# --- SDK keys -------------------------------------------------------------------------------

def test_sdk_key__created__random_prefixed_and_stored_only_as_hash(development):
    key_a, raw_a = services.sdk_key_create(environment=development, kind="server", actor=TEST_ACTOR)
    key_b, raw_b = services.sdk_key_create(environment=development, kind="client", actor=TEST_ACTOR)
    assert raw_a.startswith("srv-") and raw_b.startswith("cli-") and raw_a != raw_b
    assert len(raw_a) >= 4 + 43  # 32 random bytes, base64url
    stored = SDKKey.objects.get(pk=key_a.pk)
    assert raw_a not in (stored.key_hash, stored.display_prefix)
    assert stored.key_hash == services.sdk_key_hash(raw_a)


def test_sdk_key__authenticate__right_wrong_revoked(development):
    sdk_key, raw = services.sdk_key_create(environment=development, kind="server",
                                           actor=TEST_ACTOR)
    assert sdk_key_authenticate(raw) == sdk_key
    assert sdk_key_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert sdk_key_authenticate("") is None and sdk_key_authenticate(None) is None
    services.sdk_key_revoke(sdk_key=sdk_key, actor=TEST_ACTOR)
    assert sdk_key_authenticate(raw) is None
    assert AuditLog.objects.filter(action="sdk_key_revoked").exists()


def test_sdk_key__rotate__old_key_works_until_grace_ends(development, settings):
    old, old_raw = services.sdk_key_create(environment=development, kind="server",
                                           actor=TEST_ACTOR)
    new, new_raw = services.sdk_key_rotate(sdk_key=old, grace_seconds=3600, actor=TEST_ACTOR)
    assert sdk_key_authenticate(new_raw) == new
    assert sdk_key_authenticate(old_raw) == old
    # When the grace period is over
    SDKKey.objects.filter(pk=old.pk).update(expires_at=old.expires_at - timedelta(hours=2))
    assert sdk_key_authenticate(old_raw) is None
    assert sdk_key_authenticate(new_raw) == new


def test_sdk_key__rotate_revoked_key__conflict(development):
    sdk_key, _ = services.sdk_key_create(environment=development, kind="server", actor=TEST_ACTOR)
    services.sdk_key_revoke(sdk_key=sdk_key, actor=TEST_ACTOR)
    with pytest.raises(ConflictError):
        services.sdk_key_rotate(sdk_key=sdk_key, actor=TEST_ACTOR)


def test_sdk_key__api_create_shows_secret_once(api_as, org_admin, development):
    client = api_as(org_admin)
    url = "/api/v1/projects/demo/environments/development/keys/"
    created = client.post(url, {"kind": "client", "name": "web"}, format="json").json()
    assert created["key"].startswith("cli-")
    listed = client.get(url).json()["results"]
    assert listed[0]["prefix"] == created["key"][:10]
    assert "key" not in listed[0]


def test_sdk_key__api_rotate__returns_new_key_and_old_expiry(api_as, org_admin, development):
    client = api_as(org_admin)
    url = "/api/v1/projects/demo/environments/development/keys/"
    created = client.post(url, {"kind": "server"}, format="json").json()
    rotated = client.post(f"{url}{created['id']}/rotate/", {"graceSeconds": 60}, format="json")
    assert rotated.status_code == 201
    body = rotated.json()
    assert body["key"].startswith("srv-") and body["previousKey"]["expiresAt"]
    assert sdk_key_authenticate(created["key"]) is not None  # still in its grace period
    again = client.post(f"{url}{created['id']}/revoke/")
    assert again.status_code == 200 and again.json()["active"] is False
    assert sdk_key_authenticate(created["key"]) is None
