"""`manage.py check --deploy` is clean with the production settings docs/deploy.md gives
(issue 14, security): the test reads them from the document, so the two cannot drift."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_settings() -> dict[str, str]:
    text = (ROOT / "docs/deploy.md").read_text()
    block = re.search(r"<!-- production-settings -->\s*```env\n(.*?)```", text, re.S).group(1)
    values = dict(line.split("=", 1) for line in block.strip().splitlines())
    values["SECRET_KEY"] = secrets.token_urlsafe(50)  # the placeholder, filled
    return values


def check_deploy(tmp_path, values: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.base",
            "FLAGSTREAM_VAR_DIR": str(tmp_path), **values}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy",
                           "--fail-level", "WARNING"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy__documented_production_settings__no_issue(tmp_path):
    values = documented_settings()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "HTTPS"} <= set(values)
    result = check_deploy(tmp_path, values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy__without_https__warns(tmp_path):
    """The check above can fail: the embedded default (plain HTTP) is not a deployment."""
    values = {k: v for k, v in documented_settings().items() if not k.startswith(("HTTPS",
                                                                                   "HSTS"))}
    result = check_deploy(tmp_path, values)
    assert result.returncode != 0 and "SESSION_COOKIE_SECURE" in result.stdout + result.stderr


def test_https__behind_a_proxy__plain_http_redirected_health_not(settings, client, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    from django.test import Client

    client = Client()  # middleware built with these settings
    plain = client.get("/api/v1/projects/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert client.get("/api/health").status_code in (200, 503)  # probed over HTTP from inside
    secure = client.get("/api/v1/projects/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 401  # reached the API: its own answer
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
