"""Rollups (issue 13, items 2 and 6): exact evaluations and distinct contexts per hour and
day, custom events' count and sum; incremental, idempotent, a rebuild equal to the runs; the
organization's dashboards told; old rows trimmed."""

import datetime
import json

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_eventstream.models import Event

from analytics import rollups, services
from analytics.ingest import batch_read
from analytics.models import (
    ContextCount,
    CustomEvent,
    CustomRollup,
    EvaluationEvent,
    EvaluationRollup,
    IngestPayload,
)
from tenancy.channels import organization_updates_channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def settle(settings):
    settings.ANALYTICS_ROLLUP_SETTLE_SECONDS = -1  # count what was just received


def hours_ago(n: float) -> datetime.datetime:
    base = timezone.now().replace(minute=10, second=0, microsecond=0)
    return base - datetime.timedelta(hours=n)


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def send(environment, payload_id, evaluations=(), events=(), summary=None):
    body = {"evaluations": [
        {"flagKey": f, "variant": v, "reason": r, "contextId": c, "timestamp": iso(t)}
        for f, v, r, c, t in evaluations],
        "events": [{"name": n, "contextId": c, "value": value, "timestamp": iso(t)}
                   for n, c, value, t in events]}
    if summary:
        body["summary"] = summary
    return services.events_ingest(environment, payload_id, batch_read(body))


def evaluations_by_hour():
    return sorted((r.flag_key, r.variant, r.reason, r.hour, r.evaluations)
                  for r in EvaluationRollup.objects.all())


def contexts(span):
    return sorted((c.kind, c.subject, c.variant, c.period, c.contexts)
                  for c in ContextCount.objects.filter(span=span))


def hour_of(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def test_rollup__exact_counts_and_distinct_contexts__incremental_and_idempotent(development):
    one, two = hours_ago(2), hours_ago(1)
    send(development, "a", evaluations=[
        ("checkout", "on", "TARGETING_MATCH", "u1", one),
        ("checkout", "on", "TARGETING_MATCH", "u1", one),  # the same user twice: 2 evals, 1 ctx
        ("checkout", "on", "SPLIT", "u2", one),
        ("checkout", "off", "SPLIT", "u3", one),
        ("checkout", "on", "SPLIT", "u1", two)],
        summary={"startDate": iso(one), "endDate": iso(one),
                 "flags": {"checkout": {"on": 100}}})
    result = services.analytics_rollup()
    assert result.evaluation_rows == 6 and result.organizations
    h1, h2 = hour_of(one), hour_of(two)
    assert evaluations_by_hour() == [
        ("checkout", "off", "SPLIT", h1, 1),
        ("checkout", "on", "SPLIT", h1, 1),
        ("checkout", "on", "SPLIT", h2, 1),
        ("checkout", "on", "SUMMARY", h1, 100),
        ("checkout", "on", "TARGETING_MATCH", h1, 2)]
    assert contexts("h") == [("e", "checkout", "off", h1, 1), ("e", "checkout", "on", h1, 2),
                             ("e", "checkout", "on", h2, 1)]
    before = (evaluations_by_hour(), contexts("h"), contexts("d"))
    assert services.analytics_rollup().rows == 0  # again: nothing new, nothing changes
    assert (evaluations_by_hour(), contexts("h"), contexts("d")) == before
    # More arrives: u1 again (not a new context) and u4 (new) in the first hour.
    send(development, "b", evaluations=[("checkout", "on", "SPLIT", "u1", one),
                                        ("checkout", "on", "SPLIT", "u4", one)])
    assert services.analytics_rollup().evaluation_rows == 2
    assert ("checkout", "on", "SPLIT", h1, 3) in evaluations_by_hour()
    assert ("e", "checkout", "on", h1, 3) in contexts("h")  # u1, u2, u4
    day_on = [c for c in contexts("d") if c[2] == "on"]
    assert sum(c[4] for c in day_on) == (3 if h1.date() == h2.date() else 4)


def test_rollup__custom_events_count_sum_contexts(development):
    at = hours_ago(1)
    send(development, "c", events=[("checkout_completed", "u1", 10.0, at),
                                   ("checkout_completed", "u1", 5.5, at),
                                   ("checkout_completed", "u2", None, at)])
    services.analytics_rollup()
    row = CustomRollup.objects.get()
    assert (row.name, row.hour, row.count, row.value_sum) == (
        "checkout_completed", hour_of(at), 3, 15.5)
    assert contexts("h") == [("c", "checkout_completed", "", hour_of(at), 2)]


def test_rebuild__same_figures_as_the_runs(development):
    for n in range(3):
        send(development, f"p{n}", evaluations=[
            ("checkout", "on", "SPLIT", f"u{n % 2}", hours_ago(n)),
            ("search", "v2", "DEFAULT", f"u{n}", hours_ago(n))],
            events=[("signup", f"u{n}", float(n), hours_ago(n))])
        services.analytics_rollup()
    incremental = (evaluations_by_hour(), contexts("h"), contexts("d"),
                   sorted(CustomRollup.objects.values_list("name", "hour", "count")))
    result = rollups.rollups_rebuild(hours_ago(5))
    assert result.evaluation_rows == 6
    assert (evaluations_by_hour(), contexts("h"), contexts("d"),
            sorted(CustomRollup.objects.values_list("name", "hour", "count"))) == incremental
    assert services.analytics_rollup().rows == 0  # the cursors moved with the rebuild


def test_rollup__organization_dashboards_told(development):
    send(development, "d", evaluations=[("checkout", "on", "SPLIT", "u1", timezone.now())])
    services.analytics_rollup()
    channel = organization_updates_channel(development.project.organization_id)
    event = Event.objects.filter(channel=channel).exclude(type="").get()
    data = json.loads(json.loads(event.data))
    assert event.type == "metric_updated"
    assert (data["metricName"], data["value"], data["environments"]) == (
        "flag_evaluations", 1, [development.pk])


def test_command__rolls_up_and_recounts(development, capsys):
    send(development, "e", evaluations=[("checkout", "on", "SPLIT", "u1", hours_ago(1))])
    call_command("rollup_analytics")
    assert "rolled up 1 evaluation rows" in capsys.readouterr().out
    call_command("rollup_analytics", "--since", hours_ago(3).date().isoformat())
    out = capsys.readouterr().out
    assert "recounted 1 evaluation rows" in out
    assert evaluations_by_hour() == [("checkout", "on", "SPLIT", hour_of(hours_ago(1)), 1)]
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="not a date"):
        call_command("rollup_analytics", "--since", "last tuesday")


def test_trim__raw_past_retention_rollups_past_theirs(development, settings):
    send(development, "f", evaluations=[("checkout", "on", "SPLIT", "u1", hours_ago(1))])
    services.analytics_rollup()
    old = timezone.now() - datetime.timedelta(days=8)
    EvaluationEvent.objects.update(received_at=old)
    IngestPayload.objects.update(received_at=old)
    EvaluationRollup.objects.update(hour=timezone.now() - datetime.timedelta(days=91))
    trimmed = services.analytics_trim()
    assert trimmed["evaluations"] == 1 and trimmed["payloads"] == 1
    assert trimmed["rollups"] >= 1
    assert not EvaluationEvent.objects.exists() and not EvaluationRollup.objects.exists()
    assert CustomEvent.objects.count() == 0


def test_digest__what_a_batch_adds_up_to():
    from analytics.digest import context_hash, digest_build, digest_read
    at = hours_ago(1)
    digest = digest_read(digest_build(
        [("checkout", "on", "SPLIT", "u1", 1, None, at - datetime.timedelta(minutes=5)),
         ("checkout", "on", "SPLIT", "u1", 3, None, at),
         ("checkout", "on", "SUMMARY", "", 50, None, at)],
        [("paid", "u2", 2.5, None, at), ("paid", "", None, None, at)]))
    hour, newest = int(hour_of(at).timestamp()), at.timestamp()
    assert digest.rows == (3, 2)
    assert sorted(map(tuple, digest.evaluations)) == [
        ("checkout", "on", "SPLIT", hour, 4, newest),
        ("checkout", "on", "SUMMARY", hour, 50, newest)]
    assert digest.custom == [["paid", hour, 2, 2.5]]
    assert [(k, s, v, h, list(x)) for k, s, v, h, x in digest.contexts] == [
        ("e", "checkout", "on", hour, [context_hash("u1")]),
        ("c", "paid", "", hour, [context_hash("u2")])]


def test_ingest_many__a_payload_id_twice_in_one_group_and_again_later(development):
    at = hours_ago(1)
    one = batch_read({"events": [{"name": "paid", "contextId": "u1", "timestamp": iso(at)}]})
    two = batch_read({"events": [{"name": "paid", "contextId": "u2", "timestamp": iso(at)},
                                 {"name": "paid", "contextId": "u3", "timestamp": iso(at)}]})
    answers = services.events_ingest_many([(development, "x", one), (development, "x", two),
                                           (development, None, two)])
    assert [a["duplicate"] for a in answers] == [False, True, False]
    assert answers[1]["accepted"] == {"evaluations": 0, "summaryCounts": 0, "events": 1}
    assert "warning" in answers[2] and "warning" not in answers[0]
    again = services.events_ingest_many([(development, "x", two)])
    assert again[0]["duplicate"] and CustomEvent.objects.count() == 3
    services.analytics_rollup()
    assert CustomRollup.objects.get().count == 3


def test_rollup__in_chunks_the_same_figures(development, settings):
    for n in range(5):
        send(development, f"k{n}", evaluations=[("checkout", "on", "SPLIT", f"u{n % 3}",
                                                 hours_ago(n % 2))])
    settings.ANALYTICS_ROLLUP_CHUNK = 2
    assert services.analytics_rollup().evaluation_rows == 5
    chunked = (evaluations_by_hour(), contexts("h"), contexts("d"))
    rollups.rollups_rebuild(hours_ago(30))
    settings.ANALYTICS_ROLLUP_CHUNK = 5000
    rollups.rollups_rebuild(hours_ago(30))
    assert (evaluations_by_hour(), contexts("h"), contexts("d")) == chunked


def test_trim__old_context_sets_emptied__a_late_event_keeps_the_count(development, settings):
    old = hours_ago(24 * 9)
    send(development, "g", evaluations=[("checkout", "on", "SPLIT", f"u{n}", hours_ago(2))
                                        for n in range(3)])
    services.analytics_rollup()
    # As if those hours were nine days old: their sets are no longer needed, and go.
    ContextCount.objects.update(period=old)
    services.analytics_trim()
    assert all(not bytes(c.members) for c in ContextCount.objects.all())
    ContextCount.objects.update(period=hour_of(hours_ago(2)))
    ContextCount.objects.filter(span="d").update(period=hour_of(hours_ago(2)).replace(hour=0))
    # An event for such an hour (a rollup long behind) adds to the count, never lowers it.
    send(development, "h", evaluations=[("checkout", "on", "SPLIT", "u9", hours_ago(2))])
    services.analytics_rollup()
    assert ("e", "checkout", "on", hour_of(hours_ago(2)), 3) in contexts("h")


def test_environment_deleted__its_raw_events_go_too(development):
    # The raw tables keep no database constraint (a check per row at every commit): the ORM
    # deletes them with their environment.
    send(development, "z", evaluations=[("checkout", "on", "SPLIT", "u1", hours_ago(1))],
         events=[("paid", "u1", 1.0, hours_ago(1))])
    development.delete()
    assert not EvaluationEvent.objects.exists() and not CustomEvent.objects.exists()
