"""Every code block in the README and docs runs as written, against a real server with the demo
loaded (issue 15, defect 1: the README's OpenFeature snippet failed with a NameError).

The placeholders a reader fills in are filled in the same way: the demo's keys for ``srv-…`` /
``cli-…``, its organization API key for ``ap_live_…``, its password for ``<from make run>``,
the test server's address for port 8000.
Blocks that set up or install (``make …``, ``pip install …``) are what the suite itself does and
are not run again; a watching ``curl -N`` gets two seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import ROOT, LiveStack

pytestmark = pytest.mark.live

DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
             "sdk/python/README.md"]
NOT_RUN = ("make ", "pip install")


def code_blocks():
    for document in DOCUMENTS:
        text = (ROOT / document).read_text()
        for number, match in enumerate(re.finditer(r"```(python|sh)\n(.*?)```", text, re.S)):
            language, body = match.groups()
            if body.lstrip().startswith(NOT_RUN):
                continue
            line = text[:match.start()].count("\n") + 1
            yield pytest.param(language, body, id=f"{document}:{line}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LiveStack(tmp_path_factory.mktemp("var")).running() as live:
        yield live


def filled_in(body: str, stack) -> str:
    keys = stack.credentials["keys"]["development"]
    host = stack.base_url.removeprefix("http://")
    body = body.replace("srv-…", keys["server"]).replace("cli-…", keys["client"])
    body = body.replace("<from make run>", stack.credentials["password"])
    body = body.replace("ap_live_…", stack.credentials["apiKey"])
    return body.replace("127.0.0.1:8000", host).replace("localhost:8000", host)


def as_shell(body: str) -> str:
    lines = []
    for line in body.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#\s.*$", "", line)  # the reader's comments
        line = re.sub(r"\s\[--[\w-]+\]", "", line)  # optional arguments shown as [--client]
        line = re.sub(r"^(\.venv/bin/)?python ", f"{sys.executable} ", line)
        if line.startswith("curl -N"):
            line = f"timeout 2 {line} || true"  # a stream: watch it for two seconds
        lines.append(line)
    return "set -euo pipefail\n" + "\n".join(lines)


@pytest.mark.parametrize("language,body", list(code_blocks()))
def test_documented_code_block__runs_as_written(stack, language, body):
    code = filled_in(body, stack)
    argv = [sys.executable, "-c", code] if language == "python" else ["bash", "-c",
                                                                      as_shell(code)]
    result = subprocess.run(argv, cwd=ROOT, env=stack.env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n" \
                                   f"{result.stderr}"
    assert "Traceback" not in result.stderr
    assert '"error"' not in result.stdout, result.stdout  # an API call the docs show failed


def test_documents__have_runnable_blocks():
    """The collection itself works: the README's and the SDK's snippets are found."""
    ids = [param.id for param in code_blocks()]
    assert any(i.startswith("README.md") for i in ids)
    assert any(i.startswith("sdk/python/README.md") for i in ids)
    assert Path(ROOT / "README.md").exists()
