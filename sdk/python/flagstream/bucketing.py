"""Deterministic percentage bucketing.

A context lands in bucket ``murmur3_32(f"{flag_key}.{salt}.{targeting_key}") % 100_000``:
MurmurHash3 x86 32-bit, seed 0, over the UTF-8 bytes of that string, read as an unsigned
integer. 100,000 buckets give weights a resolution of 0.001 %. The algorithm and test vectors
are in ``docs/evaluation.md``; the server and every SDK must agree on them bit for bit.
"""

from __future__ import annotations

BUCKET_COUNT = 100_000

try:  # the C implementation is ~50x faster; the pure-Python one below is the reference.
    from mmh3 import hash as _mmh3_hash

    def murmur3_32(data: bytes, seed: int = 0) -> int:
        """MurmurHash3 x86_32 of ``data`` as an unsigned 32-bit integer."""
        return _mmh3_hash(data, seed, False)

except ImportError:  # pragma: no cover - exercised by test_bucketing via murmur3_32_pure
    _mmh3_hash = None

    def murmur3_32(data: bytes, seed: int = 0) -> int:
        """MurmurHash3 x86_32 of ``data`` as an unsigned 32-bit integer."""
        return murmur3_32_pure(data, seed)


_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_MASK = 0xFFFFFFFF


def murmur3_32_pure(data: bytes, seed: int = 0) -> int:
    """Reference MurmurHash3 x86_32 in plain Python (used when ``mmh3`` is not installed)."""
    length = len(data)
    h = seed & _MASK
    block_end = length - (length & 3)
    for i in range(0, block_end, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
        h = ((h << 13) | (h >> 19)) & _MASK
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = length & 3
    k = 0
    if tail == 3:
        k ^= data[block_end + 2] << 16
    if tail >= 2:
        k ^= data[block_end + 1] << 8
    if tail >= 1:
        k ^= data[block_end]
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        k = (k * _C2) & _MASK
        h ^= k
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def bucket(flag_key: str, salt: str, targeting_key: str) -> int:
    """The bucket, 0 to 99,999, of ``targeting_key`` for ``flag_key`` and ``salt``."""
    return murmur3_32(f"{flag_key}.{salt}.{targeting_key}".encode()) % BUCKET_COUNT


def weight_to_units(weight: float) -> int:
    """A percentage weight (0-100, up to three decimals) in buckets (0-100,000)."""
    return int(round(float(weight) * 1000))
