"""Bucketing is part of the contract: these vectors are also in docs/evaluation.md."""

from collections import Counter

import pytest
from flagstream.bucketing import bucket, murmur3_32, murmur3_32_pure

# Published MurmurHash3 x86_32 (seed 0) values, and inputs of every tail length.
HASH_VECTORS = [
    (b"", 0),
    (b"a", 1009084850),
    (b"ab", 2613040991),
    (b"abc", 3017643002),
    (b"abcd", 1139631978),
    (b"hello", 613153351),
    (b"The quick brown fox jumps over the lazy dog", 0x2E4FF723),
]

BUCKET_VECTORS = [
    (("new-checkout", "s1", "user-1"), 6582),
    (("new-checkout", "s1", "user-2"), 58815),
    (("button-color", "", "alice"), 39167),
    (("button-color", "a1b2c3d4", "bob"), 10466),
    (("exp", "salt", "42"), 71099),
    (("flag", "salt", "ünïcødé"), 35458),
]


@pytest.mark.parametrize("data,expected", HASH_VECTORS)
def test_murmur3__known_vector__both_implementations_agree(data, expected):
    assert murmur3_32(data) == expected
    assert murmur3_32_pure(data) == expected


@pytest.mark.parametrize("args,expected", BUCKET_VECTORS)
def test_bucket__documented_vector__is_stable(args, expected):
    assert bucket(*args) == expected


def test_bucket__many_keys__pure_and_c_hash_agree():
    for i in range(2000):
        data = f"flag.salt.user-{i}".encode()
        assert murmur3_32(data) == murmur3_32_pure(data)


def test_bucket__100k_keys__spread_evenly_over_ten_deciles():
    # Given 100,000 targeting keys
    counts = Counter(bucket("flag", "salt", f"user-{i}") // 10_000 for i in range(100_000))
    # Then every 10 % slice holds 10 % of them, within 3 %
    assert set(counts) == set(range(10))
    for decile, count in counts.items():
        assert abs(count - 10_000) < 300, (decile, count)


def test_bucket__salt_changes__reshuffles_assignment():
    same = sum(bucket("f", "a", f"u{i}") // 50_000 == bucket("f", "b", f"u{i}") // 50_000
               for i in range(10_000))
    assert 4_500 < same < 5_500  # independent halves agree about half the time
