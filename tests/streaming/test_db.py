"""streaming.db.consistent_reads: a stream's opening reads the channel's id and the state it
stands for as of one snapshot (a task page showed a chunk twice when one committed between
the two reads on PostgreSQL)."""

import threading
import time

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


@pytest.mark.django_db(transaction=True)
def test_writer_turn__sqlite__a_second_writer_waits_for_the_first():
    from streaming.db import writer_turn

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's writers need no turn")
    order = []
    first_in, release = threading.Event(), threading.Event()

    def first():
        with writer_turn():
            order.append("first in")
            first_in.set()
            release.wait(5)
            order.append("first out")

    def second():
        first_in.wait(5)
        with writer_turn():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_in.wait(5)
    time.sleep(0.3)  # the second has had time to get in, were it not waiting
    assert order == ["first in"]
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first in", "first out", "second in"]
