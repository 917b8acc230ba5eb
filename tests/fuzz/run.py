"""The schema fuzz (issue 14, scope 1): schemathesis against a live server, every operation of
the OpenAPI schema with valid credentials of each kind — a login token per role, a server and
a client key, an organization API key per scope, the operators' token, and none for the
public operations — checking that nothing answers 5xx, every answer conforms to the schema
(status, content type, body) and a refused write changes nothing (tests/fuzz/hooks.py).

    .venv/bin/python -m tests.fuzz.run [--examples 100] [--seed N]      # or: make fuzz

Streams are not schemathesis's: a stream answering 200 never ends, which it takes for a hang.
tests/fuzz/streams.py fuzzes them on the same server, reading only each answer's head and first
frame. Prints a table; exit 1 on any failure. ``tests/e2e/test_live_fuzz.py`` runs it bounded in the suite.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,rejected_write_changes_nothing")


def credentials(world: dict, ops_token: str) -> list[tuple[str, dict, str | None]]:
    """``(name, headers, security scheme its operations declare)``: one run each."""
    a = world["a"]

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    runs = [(f"login token, {role}", bearer(a["tokens"]["user"][role]), "bearerJWT")
            for role in ("viewer", "editor", "admin")]
    runs += [("server key", {"X-API-Key": a["sdk"]["dev-server"]}, "sdkKey"),
             ("client key", {"X-API-Key": a["sdk"]["dev-client"]}, "sdkKey")]
    runs += [(f"API key, {scope}", bearer(a["api"][scope]), "organizationApiKey")
             for scope in ("ingest", "upload", "read", "publish", "agent")]
    runs += [("operators' token", bearer(ops_token), "opsToken"),
             ("no credential", {}, None)]
    return runs


def operations(schema: dict, scheme: str | None) -> list[str]:
    """The operation ids that take ``scheme`` (None: that need no credential), streams out."""
    chosen = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if "text/event-stream" in operation["responses"].get("200", {}).get("content", {}):
                continue
            schemes = {name for requirement in operation.get("security", [])
                       for name in requirement}
            if (scheme in schemes) if scheme else not schemes:
                chosen.append(operation["operationId"])
    return chosen


def config_file(world: dict, directory: Path) -> Path:
    """Real identifiers for the path parameters (organization A's), so that the fuzzer's
    bodies reach real objects instead of a 404 on a made-up project."""
    a = world["a"]
    values = {"project": a["project"], "env": "dev", "flag": a["flag"],
              "segment": a["segment"], "org": a["slug"], "agent": a["agent"]}
    lines = ["[parameters]"] + [f'"path.{name}" = "{value}"' for name, value in values.items()]
    for operation_id in ("task_get", "task_messages_post", "task_messages_list",
                         "task_cancel", "task_stream_token"):
        lines += ["", "[[operations]]", f'include-operation-id = "{operation_id}"',
                  "[operations.parameters]", f'"path.id" = "{a["task"]}"']
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fuzz(base_url: str, env: dict, world: dict, ops_token: str, examples: int, seed: int,
         report_dir: Path, out=sys.stdout) -> list[dict]:
    """Run every credential's pass; one row per pass."""
    schema_url = f"{base_url}/api/schema/?format=json"
    schema = httpx.get(schema_url, timeout=30).json()
    rows = []
    config = config_file(world, report_dir)
    for name, headers, scheme in credentials(world, ops_token):
        ids = operations(schema, scheme)
        junit = report_dir / (re.sub(r"\W+", "-", name) + ".xml")
        command = [str(Path(sys.executable).with_name("schemathesis")),
                   "--config-file", str(config), "run", schema_url,
                   "--checks", CHECKS, "--max-examples", str(examples), "--seed", str(seed),
                   "--phases", "examples,coverage,fuzzing", "--workers", "1",
                   "--request-timeout", "30", "--report", "junit",
                   "--report-junit-path", str(junit)]
        for header, value in headers.items():
            command += ["--header", f"{header}: {value}"]
        for operation_id in ids:
            command += ["--include-operation-id", operation_id]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                env={**env, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
                                     "PYTHONPATH": str(ROOT)}, timeout=3600)
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        cases = re.search(r"(\d+) generated", result.stdout)
        row = {"credential": name, "operations": len(ids),
               "cases": int(cases.group(1)) if cases else 0, "exit": result.returncode,
               "seconds": time.monotonic() - started, "summary": summary,
               "failures": failures(junit) if junit.exists() else [result.stdout[-3000:]]}
        rows.append(row)
        print(f"{name:<24} {row['operations']:>4} operations {row['cases']:>6} cases "
              f"{row['seconds']:6.1f} s  {'ok' if row['exit'] == 0 else 'FAILED'}",
              file=out, flush=True)
        if row["exit"] != 0:
            for failure in row["failures"][:20]:
                print("    " + failure, file=out)
    return rows


def failures(junit: Path) -> list[str]:
    import xml.etree.ElementTree as ET

    found = []
    for case in ET.parse(junit).iter("testcase"):
        for failure in list(case.iter("failure")) + list(case.iter("error")):
            text = ((failure.get("message") or "") + " " + (failure.text or "")).strip()
            found.append(f"{case.get('name')}: {' | '.join(text.splitlines()[:12])[:700]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100,
                        help="examples per operation and phase (CI runs 10)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    from tests.fuzz.stack import fuzz_stack
    from tests.fuzz.streams import fuzz_streams, stream_table

    with tempfile.TemporaryDirectory(prefix="flagstream-fuzz-") as var, \
            fuzz_stack(Path(var)) as stack:
        print(f"schema fuzz: {args.examples} examples per operation and phase, seed {args.seed}, "
              f"server {stack.base_url}")
        rows = fuzz(stack.base_url, stack.env, stack.world, stack.ops_token, args.examples,
                    args.seed, Path(var))
        print(f"streams: {args.examples} examples per stream")
        try:
            stream_rows = fuzz_streams(stack.base_url, stack.world, args.examples, args.seed)
        except AssertionError as failure:
            print(f"stream fuzz failed: {failure}")
            stream_rows = None
        else:
            print(stream_table(stream_rows))
    total = sum(row["cases"] for row in rows)
    failed = [row for row in rows if row["exit"] != 0]
    print(f"{total} cases, {len(failed)} of {len(rows)} passes failed; streams "
          f"{'passed' if stream_rows else 'FAILED'}")
    return 1 if failed or not stream_rows else 0


if __name__ == "__main__":
    sys.exit(main())
