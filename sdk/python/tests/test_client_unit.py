"""Client behaviour that needs no server: backoff bounds and applying changes by version."""

from flagstream import FlagstreamClient


def offline_client():
    return FlagstreamClient("srv-x", "http://127.0.0.1:9", start=False, initial_backoff=0.5,
                            max_backoff=8)


def test_backoff__full_jitter_within_exponential_bound():
    c = offline_client()
    for attempt in range(10):
        bound = min(8, 0.5 * 2 ** attempt)
        samples = [c._backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound * 0.5  # actually spread, not constant


def flag(version, variant):
    return {"key": "f", "kind": "string", "version": version, "enabled": True,
            "variants": {"a": "a", "b": "b"}, "offVariant": "a",
            "defaultRule": {"variant": variant}, "rules": []}


def test_apply__newer_version_applied_stale_ignored():
    c = offline_client()
    c._apply_put({"flags": {"f": flag(2, "a")}, "segments": {}})
    c._apply_event("flag_updated", {"flagKey": "f", "version": 3, "flag": flag(3, "b")})
    assert c.get_string("f") == "b"
    c._apply_event("flag_updated", {"flagKey": "f", "version": 2, "flag": flag(2, "a")})
    assert c.get_string("f") == "b"  # stale: ignored
    c._apply_event("flag_deleted", {"flagKey": "f", "version": 4, "flag": None})
    assert c.get_string("f", default="gone") == "gone"


def test_listener__told_of_applied_changes_only():
    c = offline_client()
    seen = []
    c.on_change(lambda t, k, d: seen.append((t, k)))
    c._apply_put({"flags": {"f": flag(2, "a")}, "segments": {}})
    c._apply_event("flag_updated", {"flagKey": "f", "version": 2, "flag": flag(2, "b")})
    c._apply_event("flag_enabled", {"flagKey": "f", "version": 3, "flag": flag(3, "b")})
    assert seen == [("put", None), ("flag_enabled", "f")]
