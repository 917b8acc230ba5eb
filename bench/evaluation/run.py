"""Evaluation speed: Flagstream's engine against flagsmith-flag-engine, UnleashClient and
growthbook, each evaluating the same flag locally for the same 100,000 contexts.

The flag: three rules of three constraints each (country in a list, plan equals, age compared)
serving variant "c", and a 50/50 split of "a"/"b" for everyone else. Most contexts fall through
all three rules into the split, the slowest path. Each library's answer is checked against the
rules first (same contexts served "c"; about half of the rest "a"), so that every engine is doing
the same work. Timing: 1,000 batches of 100 calls, garbage collector off; the per-evaluation
median and p99 are over batch means.

Run: make bench-evaluation   (or: .venv/bin/python bench/evaluation/run.py [--contexts N])
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))

from flagstream import Evaluator  # noqa: E402

COUNTRIES = ["US", "CA", "DE", "FR", "JP", "BR", "IN", "GB"]
PLANS = ["free", "pro", "enterprise"]
# (country values, plan, age operator, age bound)
RULES = [
    (["US", "CA"], "enterprise", "gt", 30),
    (["DE", "FR"], "pro", "lt", 25),
    (["JP"], "pro", "gte", 60),
]
BATCH = 100


def make_contexts(n: int) -> list[dict]:
    return [{"targetingKey": f"user-{i}", "country": COUNTRIES[i % 8],
             "plan": PLANS[(i // 8) % 3], "age": (i * 7) % 90} for i in range(n)]


def expected_targeted(ctx: dict) -> bool:
    ops = {"gt": lambda a, b: a > b, "lt": lambda a, b: a < b, "gte": lambda a, b: a >= b}
    return any(ctx["country"] in countries and ctx["plan"] == plan and ops[op](ctx["age"], bound)
               for countries, plan, op, bound in RULES)


# --- Flagstream -----------------------------------------------------------------------------

def flagstream_engine():
    config = {"flags": {"checkout": {
        "kind": "string", "version": 1, "enabled": True, "salt": "bench",
        "variants": {"a": "a", "b": "b", "c": "c"}, "offVariant": "a",
        "rules": [{"constraints": [
            {"attribute": "country", "operator": "in", "values": countries},
            {"attribute": "plan", "operator": "eq", "values": [plan]},
            {"attribute": "age", "operator": op, "values": [bound]}], "variant": "c"}
            for countries, plan, op, bound in RULES],
        "defaultRule": {"distribution": [{"variant": "a", "weight": 50},
                                         {"variant": "b", "weight": 50}]}}}}
    evaluate = Evaluator(config).evaluate
    return (lambda ctx: evaluate("checkout", ctx).value), (lambda ctx: ctx)


# --- flagsmith-flag-engine ------------------------------------------------------------------

def flagsmith_engine():
    from flag_engine.engine import get_evaluation_result

    op_names = {"gt": "GREATER_THAN", "lt": "LESS_THAN", "gte": "GREATER_THAN_INCLUSIVE"}
    feature = {"key": "1", "name": "checkout", "enabled": True, "value": "a",
               "variants": [{"value": "a", "weight": 50, "priority": 0},
                            {"value": "b", "weight": 50, "priority": 1}]}
    segments = {}
    for index, (countries, plan, op, bound) in enumerate(RULES):
        segments[str(index)] = {
            "key": str(index), "name": f"rule{index}",
            "rules": [{"type": "ALL", "conditions": [
                {"property": "country", "operator": "IN", "value": countries},
                {"property": "plan", "operator": "EQUAL", "value": plan},
                {"property": "age", "operator": op_names[op], "value": str(bound)}]}],
            "overrides": [{"key": "1", "name": "checkout", "enabled": True, "value": "c",
                           "priority": index}]}
    environment = {"environment": {"key": "env", "name": "bench"}, "segments": segments,
                   "features": {"checkout": feature}}

    def evaluate(identity):
        result = get_evaluation_result({**environment, "identity": identity})
        return result["flags"]["checkout"]["value"]

    def convert(ctx):
        return {"identifier": ctx["targetingKey"], "key": ctx["targetingKey"],
                "traits": {k: v for k, v in ctx.items() if k != "targetingKey"}}

    return evaluate, convert


# --- UnleashClient --------------------------------------------------------------------------

def unleash_engine():
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    logging.getLogger("UnleashClient").setLevel(logging.ERROR)
    op_names = {"gt": "NUM_GT", "lt": "NUM_LT", "gte": "NUM_GTE"}
    strategies = [{
        "name": "flexibleRollout",
        "parameters": {"rollout": "100", "stickiness": "default", "groupId": "checkout"},
        "constraints": [
            {"contextName": "country", "operator": "IN", "values": countries},
            {"contextName": "plan", "operator": "IN", "values": [plan]},
            {"contextName": "age", "operator": op_names[op], "value": str(bound)}],
        "variants": [{"name": "c", "weight": 1000, "stickiness": "default",
                      "weightType": "variable"}]}
        for countries, plan, op, bound in RULES]
    strategies.append({"name": "flexibleRollout", "constraints": [],
                       "parameters": {"rollout": "100", "stickiness": "default",
                                      "groupId": "checkout"}})
    features = {"version": 1, "features": [{
        "name": "checkout", "enabled": True, "strategies": strategies,
        "variants": [{"name": "a", "weight": 500, "stickiness": "default",
                      "weightType": "variable"},
                     {"name": "b", "weight": 500, "stickiness": "default",
                      "weightType": "variable"}]}]}
    cache = FileCache("flagstream-bench", directory=tempfile.mkdtemp())
    cache.bootstrap_from_dict(features)
    client = UnleashClient(url="http://127.0.0.1:9/api", app_name="bench", disable_metrics=True,
                           disable_registration=True, cache=cache)
    client.initialize_client(fetch_toggles=False)

    def evaluate(ctx):
        return client.get_variant("checkout", ctx)["name"]

    def convert(ctx):
        return {"userId": ctx["targetingKey"],
                "properties": {k: str(v) for k, v in ctx.items() if k != "targetingKey"}}

    return evaluate, convert


# --- growthbook -----------------------------------------------------------------------------

def growthbook_engine():
    from growthbook import GrowthBook

    op_names = {"gt": "$gt", "lt": "$lt", "gte": "$gte"}
    rules = [{"condition": {"country": {"$in": countries}, "plan": plan,
                            "age": {op_names[op]: bound}}, "force": "c"}
             for countries, plan, op, bound in RULES]
    rules.append({"key": "checkout", "variations": ["a", "b"], "weights": [0.5, 0.5],
                  "hashAttribute": "id", "coverage": 1.0})
    gb = GrowthBook(features={"checkout": {"defaultValue": "a", "rules": rules}})

    def evaluate(attributes):
        gb.set_attributes(attributes)
        return gb.get_feature_value("checkout", "a")

    def convert(ctx):
        return {"id": ctx["targetingKey"], **{k: v for k, v in ctx.items()
                                              if k != "targetingKey"}}

    return evaluate, convert


ENGINES = [("flagstream", flagstream_engine), ("flagsmith-flag-engine", flagsmith_engine),
           ("UnleashClient", unleash_engine), ("growthbook", growthbook_engine)]


def check(name: str, evaluate, contexts, converted) -> str:
    """Every engine must serve "c" exactly to the targeted contexts and split the rest."""
    split = {"a": 0, "b": 0}
    for ctx, arg in zip(contexts[:20_000], converted[:20_000]):
        value = evaluate(arg)
        if expected_targeted(ctx):
            assert value == "c", (name, ctx, value)
        else:
            assert value in split, (name, ctx, value)
            split[value] += 1
    share = split["a"] / (split["a"] + split["b"])
    assert 0.45 < share < 0.55, (name, share)
    return f"{share:.1%}"


def measure(evaluate, converted) -> list[float]:
    per_call = []
    gc.disable()
    try:
        for start in range(0, len(converted), BATCH):
            batch = converted[start:start + BATCH]
            t0 = time.perf_counter_ns()
            for arg in batch:
                evaluate(arg)
            per_call.append((time.perf_counter_ns() - t0) / len(batch) / 1000)
    finally:
        gc.enable()
    return per_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=100_000)
    args = parser.parse_args()
    contexts = make_contexts(args.contexts)
    targeted = sum(map(expected_targeted, contexts))
    print(f"Evaluation benchmark: {args.contexts:,} contexts ({targeted:,} match a rule, the rest "
          f"fall through to the 50/50 split)")
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}\n")

    rows = []
    for name, factory in ENGINES:
        try:
            evaluate, convert = factory()
        except ImportError as exc:
            print(f"  {name}: not installed ({exc}); pip install -r bench/requirements.txt")
            continue
        converted = [convert(ctx) for ctx in contexts]
        share = check(name, evaluate, contexts, converted)
        measure(evaluate, converted[:5_000])  # warm-up
        per_call = measure(evaluate, converted)
        ordered = sorted(per_call)
        rows.append((name, statistics.median(per_call), ordered[int(len(ordered) * 0.99) - 1],
                     statistics.fmean(per_call), share))

    print(f"{'engine':<24}{'median µs':>11}{'p99 µs':>10}{'mean µs':>10}{'evals/s':>12}"
          f"{'split a':>10}")
    for name, median, p99, mean, share in rows:
        print(f"{name:<24}{median:>11.2f}{p99:>10.2f}{mean:>10.2f}{1e6 / mean:>12,.0f}{share:>10}")
    ours = rows[0][1]
    others = [median for name, median, *_ in rows[1:]]
    print()
    print(f"target: median < 5 µs ............................ "
          f"{'met' if ours < 5 else 'MISSED'} ({ours:.2f} µs)")
    if others:
        fastest = min(others)
        print(f"target: no slower than the fastest baseline ...... "
              f"{'met' if ours <= fastest else 'MISSED'} ({ours:.2f} vs {fastest:.2f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
