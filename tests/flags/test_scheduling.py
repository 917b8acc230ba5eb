"""Scheduled changes: validation, cancellation, application exactly once, failure, lateness."""

import io
import json
import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from flags import services
from flags.exceptions import ConflictError
from flags.models import AuditLog, FlagState, ScheduledChange
from flags.scheduling import (
    scheduled_change_apply,
    scheduled_change_cancel,
    scheduled_change_create,
    scheduled_changes_apply_due,
)
from tests.conftest import TEST_ACTOR
from tests.flags.test_services import published

pytestmark = pytest.mark.django_db(transaction=True)

P = "/api/v1/projects/demo/environments/development/flags/button-color/scheduled-changes/"


@pytest.fixture
def state(color_flag, development):
    return FlagState.objects.get(flag=color_flag, environment=development)


def soon(seconds=60):
    return timezone.now() + timedelta(seconds=seconds)


def schedule(state, change_type, payload=None, at=None):
    return scheduled_change_create(state=state, scheduled_at=at or soon(), change_type=change_type,
                                   payload=payload or {}, actor=TEST_ACTOR)


def make_due(change, seconds_ago=0.5):
    ScheduledChange.objects.filter(pk=change.pk).update(
        scheduled_at=timezone.now() - timedelta(seconds=seconds_ago))


def race(work, workers=4) -> list:
    """Run ``work`` in ``workers`` threads released at the same instant; their results."""
    results, barrier = [], threading.Barrier(workers)

    def worker():
        barrier.wait()
        results.append(work())
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("change_type,payload,check", [
    ("enable", {}, lambda s: s.enabled is True),
    ("set_default_variant", {"variant": "green"}, lambda s: s.default_rule == {"variant": "green"}),
    ("set_rollout", {"distribution": [{"variant": "red", "weight": 10},
                                      {"variant": "blue", "weight": 90}]},
     lambda s: s.default_rule["distribution"][1]["weight"] == 90),
    ("update", {"offVariant": "blue", "enabled": True}, lambda s: s.off_variant == "blue"),
])
def test_apply__due_change__applied_once_audited_as_scheduler(state, change_type, payload, check):
    change = schedule(state, change_type, payload)
    make_due(change)
    assert scheduled_changes_apply_due() == {"applied": 1}
    state.refresh_from_db()
    assert check(state) and state.version == 2
    change.refresh_from_db()
    assert change.status == "applied" and change.lateness_ms >= 500
    entry = AuditLog.objects.filter(flag=state.flag, source="scheduler").get()
    assert entry.actor_label == "scheduler"
    assert scheduled_changes_apply_due() == {}  # nothing left


def test_apply__not_due_yet__left_pending(state):
    change = schedule(state, "enable")
    assert scheduled_changes_apply_due() == {}
    change.refresh_from_db()
    assert change.status == "pending"


def test_apply__two_racing_workers__exactly_once(state):
    change = schedule(state, "enable")
    make_due(change)
    results = race(lambda: scheduled_change_apply(change_id=change.pk))
    assert sorted(results) == ["applied", "skipped", "skipped", "skipped"]
    state.refresh_from_db()
    assert state.version == 2
    assert AuditLog.objects.filter(flag=state.flag, source="scheduler").count() == 1


def test_apply__many_changes_of_one_flag_due_together__each_applied_in_order(state, development):
    changes = [schedule(state, "set_rollout", {"distribution": [
        {"variant": "red", "weight": w}, {"variant": "blue", "weight": 100 - w}]})
        for w in (10, 20, 30)]
    changes.append(schedule(state, "enable"))
    for change in changes:
        make_due(change)
    before_events = len(published(development))

    assert scheduled_changes_apply_due() == {"applied": 4}

    state.refresh_from_db()
    assert state.version == 5 and state.enabled is True
    assert state.default_rule["distribution"][0] == {"variant": "red", "weight": 30}
    entries = list(AuditLog.objects.filter(flag=state.flag, source="scheduler")
                   .order_by("id").values_list("action", "before", "after"))
    # Each audited as the change it was: a split replacing the default variant, two new
    # weights, the switch on.
    assert [e[0] for e in entries] == ["flag_updated", "distribution_updated",
                                       "distribution_updated", "flag_enabled"]
    assert [e[2]["version"] for e in entries] == [2, 3, 4, 5]
    assert [e[1]["version"] for e in entries] == [1, 2, 3, 4]  # each from the one before
    assert [e[2]["defaultRule"]["distribution"][0]["weight"] for e in entries] == [10, 20, 30, 30]
    # Subscribers get the resulting state once, with its version.
    [(event_type, data)] = published(development)[before_events:]
    assert event_type == "flag_updated"
    assert data["flag"]["version"] == 5 and data["flag"]["enabled"] is True
    assert set(ScheduledChange.objects.values_list("status", flat=True)) == {"applied"}


def test_apply__one_change_of_a_batch_no_longer_applies__fails_alone(state, color_flag):
    first = schedule(state, "set_default_variant", {"variant": "blue"})
    doomed = schedule(state, "set_default_variant", {"variant": "green"})
    last = schedule(state, "enable")
    services.flag_update(flag=color_flag, actor=TEST_ACTOR, variants=[
        {"key": "red", "value": "red"}, {"key": "blue", "value": "blue"}])
    for change in (first, doomed, last):
        make_due(change)
    version = FlagState.objects.get(pk=state.pk).version

    assert scheduled_changes_apply_due() == {"applied": 2, "failed": 1}

    statuses = dict(ScheduledChange.objects.values_list("id", "status"))
    assert statuses == {first.pk: "applied", doomed.pk: "failed", last.pk: "applied"}
    doomed.refresh_from_db()
    assert "green" in doomed.reason
    state.refresh_from_db()
    assert state.default_rule == {"variant": "blue"} and state.enabled is True
    assert state.version == version + 2  # two changes, two versions


def test_apply__racing_sweeps_over_many_flags__each_change_exactly_once(project, production):
    flags = [services.flag_create(project=project, key=f"race-{i}", actor=TEST_ACTOR)
             for i in range(3)]
    for flag in flags:
        flag_state = FlagState.objects.get(flag=flag, environment=production)
        for weight in (10, 20, 30, 40, 50):
            make_due(schedule(flag_state, "set_rollout", {"distribution": [
                {"variant": "true", "weight": weight},
                {"variant": "false", "weight": 100 - weight}]}))
    totals = race(scheduled_changes_apply_due)
    assert sum(t.get("applied", 0) for t in totals) == 15
    assert AuditLog.objects.filter(source="scheduler").count() == 15
    for flag in flags:
        flag_state = FlagState.objects.get(flag=flag, environment=production)
        assert flag_state.version == 6
        assert flag_state.default_rule["distribution"][0]["weight"] == 50


@pytest.mark.skipif("connection.vendor == 'sqlite'",
                    reason="SQLite has no row locks: its writers queue, one at a time")
def test_apply__flag_being_applied_elsewhere__skipped_then_applied_in_order(project,
                                                                            production):
    busy, free = [FlagState.objects.get(flag=services.flag_create(
        project=project, key=key, actor=TEST_ACTOR), environment=production)
        for key in ("busy", "free")]
    for flag_state in (busy, free):
        for weight in (10, 20, 30):
            make_due(schedule(flag_state, "set_rollout", {"distribution": [
                {"variant": "true", "weight": weight},
                {"variant": "false", "weight": 100 - weight}]}))
    locked, release = threading.Event(), threading.Event()

    def other_worker():  # holds the busy flag's state, as a worker applying it would
        with transaction.atomic():
            FlagState.objects.select_for_update().get(pk=busy.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    try:
        assert locked.wait(10)
        assert scheduled_changes_apply_due() == {"applied": 3}  # the free flag only
        assert set(ScheduledChange.objects.filter(state=busy)
                   .values_list("status", flat=True)) == {"pending"}
    finally:
        release.set()
        holder.join()
    assert scheduled_changes_apply_due() == {"applied": 3}
    busy.refresh_from_db()
    assert busy.version == 4
    assert busy.default_rule["distribution"][0]["weight"] == 30  # the last one, last


def test_apply__variant_removed_meanwhile__failed_with_reason(state, color_flag):
    change = schedule(state, "set_default_variant", {"variant": "green"})
    services.flag_update(flag=color_flag, actor=TEST_ACTOR, variants=[
        {"key": "red", "value": "red"}, {"key": "blue", "value": "blue"}])
    make_due(change)
    assert scheduled_changes_apply_due() == {"failed": 1}
    change.refresh_from_db()
    assert change.status == "failed" and "green" in change.reason
    state.refresh_from_db()
    assert state.default_rule != {"variant": "green"}
    assert AuditLog.objects.filter(action="scheduled_change_failed").exists()


def test_apply__flag_deleted__failed_with_reason_and_kept(state, color_flag):
    change = schedule(state, "enable")
    services.flag_delete(flag=color_flag, actor=TEST_ACTOR)
    change.refresh_from_db()
    assert change.status == "failed" and "deleted" in change.reason
    assert change.flag_key == "button-color" and change.state is None
    make_due(change)
    assert scheduled_changes_apply_due() == {}


def test_apply__missed_time__applied_later_with_lateness(state):
    change = schedule(state, "enable")
    make_due(change, seconds_ago=3600)  # everything was down for an hour
    scheduled_changes_apply_due()
    change.refresh_from_db()
    assert change.status == "applied" and change.lateness_ms >= 3_600_000


@pytest.mark.parametrize("change_type,payload,at,field", [
    ("enable", {}, "past", "scheduledAt"),
    ("enable", {}, "naive", "scheduledAt"),
    ("explode", {}, None, "changeType"),
    ("set_default_variant", {}, None, "payload.variant"),
    ("set_default_variant", {"variant": "purple"}, None, "payload.defaultRule.variant"),
    ("set_rollout", {"distribution": [{"variant": "red", "weight": 60}]}, None,
     "payload.defaultRule.distribution"),
    ("update", {"colour": "x"}, None, "payload.colour"),
    ("update", {}, None, "payload"),
    ("update", {"rules": [{"constraints": [], "variant": "nope"}]}, None,
     "payload.rules.0.variant"),
])
def test_create__invalid__validation_error_names_field_and_nothing_saved(state, change_type,
                                                                         payload, at, field):
    when = {"past": timezone.now() - timedelta(minutes=1),
            "naive": datetime(2999, 1, 1), None: soon()}[at]
    with pytest.raises(ValidationError) as info:
        scheduled_change_create(state=state, scheduled_at=when, change_type=change_type,
                                payload=payload, actor=TEST_ACTOR)
    assert field in services.validation_error_fields(info.value)
    assert not ScheduledChange.objects.exists()
    state.refresh_from_db()
    assert state.version == 1  # the dry run left nothing behind


def test_cancel__pending__cancelled_then_not_applied(state):
    change = schedule(state, "enable")
    scheduled_change_cancel(change=change, actor=TEST_ACTOR)
    make_due(change)
    assert scheduled_changes_apply_due() == {}
    change.refresh_from_db()
    assert change.status == "cancelled" and change.finished_at


def test_cancel__already_applied__conflict(state):
    change = schedule(state, "enable")
    make_due(change)
    scheduled_changes_apply_due()
    with pytest.raises(ConflictError):
        scheduled_change_cancel(change=change, actor=TEST_ACTOR)


# --- API ----------------------------------------------------------------------------------------

def test_api__schedule_list_get_cancel(api_as, editor, state):
    client = api_as(editor)
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    created = client.post(P, {"scheduledAt": at, "changeType": "set_default_variant",
                              "payload": {"variant": "blue"}}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending" and body["changeType"] == "set_default_variant"
    listed = client.get(P).json()["results"]
    assert [c["id"] for c in listed] == [body["id"]]
    assert client.get(f"{P}{body['id']}/").json()["payload"] == {"variant": "blue"}
    assert client.delete(f"{P}{body['id']}/").status_code == 204
    again = client.delete(f"{P}{body['id']}/")
    assert again.status_code == 409 and again.json()["error"] == "conflict"


@pytest.mark.parametrize("body,field", [
    ({"changeType": "enable"}, "scheduledAt"),
    ({"scheduledAt": "tomorrow", "changeType": "enable"}, "scheduledAt"),
    ({"scheduledAt": "2999-01-01T00:00:00Z", "changeType": "explode"}, "changeType"),
    ({"scheduledAt": "2000-01-01T00:00:00Z", "changeType": "enable"}, "scheduledAt"),
    ({"scheduledAt": "2999-01-01T00:00:00Z", "changeType": "set_default_variant",
      "payload": {"variant": "pink"}}, "payload.defaultRule.variant"),
    ({"scheduledAt": "2999-01-01T00:00:00Z", "changeType": "enable", "when": 1}, "when"),
])
def test_api__invalid__400_names_field(api_as, editor, state, body, field):
    response = api_as(editor).post(P, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not ScheduledChange.objects.exists()


def test_api__unknown_change__404(api_as, editor, state):
    assert api_as(editor).delete(f"{P}999999/").status_code == 404


# --- command and admin ------------------------------------------------------------------------

def test_command__schedules_and_reports(state):
    out = io.StringIO()
    at = (timezone.now() + timedelta(minutes=5)).isoformat()
    call_command("schedule_change", "demo", "development", "button-color", "set_rollout",
                 "--at", at, "--payload",
                 json.dumps({"distribution": [{"variant": "red", "weight": 50},
                                              {"variant": "green", "weight": 50}]}), stdout=out)
    assert "scheduled change" in out.getvalue()
    change = ScheduledChange.objects.get()
    assert change.created_from == "command"


@pytest.mark.parametrize("args,message", [
    (["enable", "--at", "soon"], "--at"),
    (["enable", "--at", "2999-01-01T00:00:00Z", "--payload", "{x"], "--payload"),
    (["set_default_variant", "--at", "2999-01-01T00:00:00Z", "--payload", '{"variant": "x"}'],
     "payload.defaultRule.variant"),
    (["enable", "--at", "2001-01-01T00:00:00Z"], "scheduledAt"),
])
def test_command__bad_input__error(state, args, message):
    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        call_command("schedule_change", "demo", "development", "button-color", *args,
                     stdout=io.StringIO())


def test_admin__schedule_and_cancel(client, django_user_model, state):
    staff = django_user_model.objects.create_superuser("staff", "s@x.io", "pw")
    client.force_login(staff)
    at = timezone.now().astimezone(dt_timezone.utc) + timedelta(days=1)
    response = client.post(reverse("admin:flags_scheduledchange_add"), {
        "state": state.pk, "scheduled_at_0": at.strftime("%Y-%m-%d"),
        "scheduled_at_1": at.strftime("%H:%M:%S"), "change_type": "disable", "payload": "{}"})
    assert response.status_code == 302, response.content.decode()[:2000]
    change = ScheduledChange.objects.get()
    assert change.created_from == "admin"
    page = client.get(reverse("admin:flags_flagstate_change", args=[state.pk])).content.decode()
    assert "disable" in page.lower()
    client.post(reverse("admin:flags_scheduledchange_changelist"),
                {"action": "cancel_changes", "_selected_action": [change.pk]})
    change.refresh_from_db()
    assert change.status == "cancelled"


@pytest.mark.parametrize("method,suffix", [("patch", "{id}/"), ("put", "{id}/"), ("patch", ""),
                                           ("put", "")])
def test_api__method_the_resource_lacks__405_json(api_as, editor, state, method, suffix):
    # Given a scheduled change (the list and the detail answer GET/POST and GET/DELETE only)
    client = api_as(editor)
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    change = client.post(P, {"scheduledAt": at, "changeType": "enable"}, format="json").json()
    # When another method is sent
    response = getattr(client, method)(P + suffix.format(id=change["id"]), {"payload": {}},
                                       format="json")
    # Then it is a 405 in the project's JSON error shape, and nothing changed
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"
    assert ScheduledChange.objects.get().status == "pending"
