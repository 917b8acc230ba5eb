"""streaming.db.consistent_reads: a stream's opening reads the channel's id and the state it
stands for as of one snapshot (a task page showed a chunk twice when one committed between
the two reads on PostgreSQL)."""

import threading

import pytest
from django.db import connection
from django_eventstream.models import EventCounter

from streaming.db import consistent_reads
from streaming.selectors import current_id


@pytest.mark.django_db(transaction=True)
def test_consistent_reads__a_commit_between_two_reads_is_not_seen():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's transactions read one snapshot already; this is PostgreSQL's")
    EventCounter.objects.create(name="tasks-1", value=1)

    def another_process_writes():
        EventCounter.objects.filter(name="tasks-1").update(value=2)
        connection.close()

    with consistent_reads():
        first = current_id("tasks-1")
        writer = threading.Thread(target=another_process_writes)
        writer.start()
        writer.join()
        second = current_id("tasks-1")
    assert (first, second) == (1, 1)
    assert current_id("tasks-1") == 2  # and after the transaction, the write is there
