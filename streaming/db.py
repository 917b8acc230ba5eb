"""Database access for long-lived streams, off the event loop, on a small fixed thread pool.

django-eventstream's stream view runs every read through ``sync_to_async`` per connection, so
each open stream ends up holding a thread and a database connection. Streams here touch the
database only when they open (authentication, replay) and when the hub catches up, always
through this pool: the whole process holds at most STREAM_DB_THREADS connections (one per thread,
kept open and replaced when it breaks), however many streams are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)

_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.STREAM_DB_THREADS,
                                       thread_name_prefix="stream-db")
    return _executor


def _call(fn, args, kwargs):
    try:
        return fn(*args, **kwargs)
    except (InterfaceError, OperationalError):
        # A connection that broke (server restart, idle timeout): drop it and try once more.
        for connection in connections.all(initialized_only=True):
            connection.close()
        return fn(*args, **kwargs)
    except DatabaseError:
        for connection in connections.all(initialized_only=True):
            if connection.in_atomic_block is False and connection.needs_rollback:
                connection.close()
        raise


async def run_db(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` on the stream database pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_executor(),
                                      functools.partial(_call, fn, args, kwargs))


def close_pool() -> None:
    """Close the pool's database connections and end its threads (sync), e.g. before the
    database they point at is dropped. The next run_db starts a new pool."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    size = executor._max_workers
    barrier = threading.Barrier(size)

    def close_this_threads_connections():
        try:
            barrier.wait(timeout=5)  # one task per thread: each waits until all are taken
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for future in [executor.submit(close_this_threads_connections) for _ in range(size)]:
        future.result()
    executor.shutdown(wait=True)


@contextlib.contextmanager
def consistent_reads():
    """A transaction whose reads all see one snapshot of the database: a stream's opening that
    reads the channel's last id and then the state it stands for must not see a write that
    committed between the two (it would also come by the stream, after: shown twice).
    PostgreSQL's default, READ COMMITTED, gives each statement a fresh snapshot: the
    transaction is made REPEATABLE READ. SQLite's transactions read one snapshot already. Inside
    a transaction already begun (tests), it is that transaction's isolation."""
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


@contextlib.contextmanager
def writer_turn():
    """One group-commit writer at a time across the server's processes, on SQLite.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
    (up to 100 ms a try) rather than waking when the lock is free: with one writer per
    server process (``serve --processes``), they spent more time asleep than writing. A
    file lock beside the database hands the turn over as soon as it is released. PostgreSQL
    takes row locks only and needs nothing."""
    if connection.vendor != "sqlite":
        yield
        return
    import fcntl

    path = f"{connection.settings_dict['NAME']}.writers.lock"  # beside this connection's file
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
