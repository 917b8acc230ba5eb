"""How many processes ``manage.py serve`` runs: one per core unless told (issue 16, item 2)."""

from streaming.workers import process_count, worker_endpoint


def test_process_count__default__one_per_core():
    assert process_count(0, "127.0.0.1", cores=2) == (2, "")
    assert process_count(0, "0.0.0.0", cores=16) == (16, "")


def test_process_count__asked__that_many_whatever_the_cores():
    assert process_count(1, "127.0.0.1", cores=8) == (1, "")
    assert process_count(3, "127.0.0.1", cores=2) == (3, "")


def test_process_count__ipv6_by_default__one_process_and_says_why():
    count, note = process_count(0, "::1", cores=4)
    assert count == 1 and "IPv6" in note and "one process" in note


def test_worker_endpoint__adopts_the_inherited_socket():
    assert worker_endpoint(7) == "fd:fileno=7"
