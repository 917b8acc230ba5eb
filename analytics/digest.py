"""A batch's digest: what the rollups need of a batch of SDK events, worked out once at ingest
(where every item is read anyway) and stored with the batch's payload record, in the same
transaction as its raw rows.

The rollups then merge digests instead of reading raw rows again. Reading raw rows cost
PostgreSQL about 1.3 s for the hourly sums of 3 million rows and 5 s more for their exact
distinct contexts (a hash of every (subject, hour, context)); merging digests is a fraction of
that (docs/BENCHMARKS.md).

A digest holds, per hour of the events' timestamps:

- evaluations per (flag key, variant, reason) — summary counters included — and the newest
  one's timestamp;
- custom events per name: how many, and the sum of their values;
- the distinct contexts per (flag key, variant) and per event name, as 64-bit hashes of the
  context ids (MurmurHash3). Two different ids of one period sharing a hash would be counted
  once: for a million distinct contexts in one hour the chance of any such pair is about 3 in
  100 million.

Format: a 4-byte little-endian length, a JSON header of that length, then the hashes as
little-endian int64, in the order of the header's ``x`` entries::

    {"v": 1, "rows": [evaluation rows, custom rows],
     "e": [[flagKey, variant, reason, hour, count, newest (seconds since the epoch)], …],
     "c": [[name, hour, count, valueSum], …],
     "x": [["e" | "c", subject, variant ("" for events), hour, how many hashes], …]}

``hour`` is the start of the hour in seconds since the epoch (UTC).
"""

from __future__ import annotations

import array
import json
import sys
from dataclasses import dataclass

import mmh3
import numpy as np

from .models import Kind

VERSION = 1
EVALUATION, CUSTOM = Kind.EVALUATION.value, Kind.CUSTOM.value  # ContextCount's kinds


def context_hash(context_id: str) -> int:
    return mmh3.hash64(context_id, signed=True)[0]


def hour_start(moment) -> int:
    """The start of ``moment``'s hour, in seconds since the epoch."""
    return int(moment.timestamp()) // 3600 * 3600


def digest_build(evaluations: list, events: list) -> bytes:
    """The digest of a batch's rows: evaluations ``(flag, variant, reason, context, count,
    value, timestamp)`` and custom events ``(name, context, value, details, timestamp)``."""
    counts: dict = {}
    custom: dict = {}
    contexts: dict = {}
    hours: dict = {}  # a batch's timestamps mostly repeat: each read once
    for flag, variant, reason, context, count, _value, stamp in evaluations:
        hour = hours.get(stamp)
        if hour is None:
            hour = hours[stamp] = hour_start(stamp)
        key = (flag, variant, reason, hour)
        total = counts.get(key)
        if total is None:
            counts[key] = [count, stamp]
        else:
            total[0] += count
            if stamp > total[1]:
                total[1] = stamp
        if context:
            seen = contexts.get((EVALUATION, flag, variant, hour))
            if seen is None:
                seen = contexts[(EVALUATION, flag, variant, hour)] = set()
            seen.add(context_hash(context))
    for name, context, value, _details, stamp in events:
        hour = hours.get(stamp)
        if hour is None:
            hour = hours[stamp] = hour_start(stamp)
        total = custom.get((name, hour))
        if total is None:
            total = custom[(name, hour)] = [0, 0.0]
        total[0] += 1
        total[1] += value or 0.0
        if context:
            seen = contexts.get((CUSTOM, name, "", hour))
            if seen is None:
                seen = contexts[(CUSTOM, name, "", hour)] = set()
            seen.add(context_hash(context))
    hashes = array.array("q")
    x = []
    for (kind, subject, variant, hour), seen in contexts.items():
        x.append([kind, subject, variant, hour, len(seen)])
        hashes.extend(seen)
    if sys.byteorder == "big":
        hashes.byteswap()
    header = json.dumps({
        "v": VERSION, "rows": [len(evaluations), len(events)],
        "e": [[*key, n, newest.timestamp()] for key, (n, newest) in counts.items()],
        "c": [[name, hour, n, total] for (name, hour), (n, total) in custom.items()],
        "x": x}, separators=(",", ":")).encode()
    return len(header).to_bytes(4, "little") + header + hashes.tobytes()


@dataclass
class Digest:
    rows: tuple[int, int]  # raw evaluation rows, raw custom-event rows
    evaluations: list  # [flag, variant, reason, hour, count, newest]
    custom: list  # [name, hour, count, value sum]
    contexts: list  # (kind, subject, variant, hour, hashes: numpy int64 array)


def digest_read(blob: bytes) -> Digest | None:
    """A stored digest, or None for a payload stored without one (before digests)."""
    if not blob:
        return None
    blob = bytes(blob)  # PostgreSQL hands back a memoryview
    size = int.from_bytes(blob[:4], "little")
    header = json.loads(blob[4:4 + size])
    if header.get("v") != VERSION:
        raise ValueError(f"digest version {header.get('v')!r} is not {VERSION}")
    hashes = np.frombuffer(blob, dtype="<i8", offset=4 + size)
    contexts, at = [], 0
    for kind, subject, variant, hour, n in header["x"]:
        contexts.append((kind, subject, variant, hour, hashes[at:at + n]))
        at += n
    return Digest(tuple(header["rows"]), header["e"], header["c"], contexts)
