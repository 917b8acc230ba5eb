"""Operator commands: bootstrap_demo, create_sdk_key, set_flag."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from flags.models import AuditLog, Environment, Flag, FlagState, Project
from tenancy.models import Organization
from flags.selectors import sdk_key_authenticate
from flagstream import Evaluator
from flags.configuration import environment_document

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return run("bootstrap_demo")


def test_bootstrap_demo__exact_demo_data(demo):
    assert Organization.objects.get().slug == "acme"
    project = Project.objects.get()
    assert project.key == "demo"
    assert sorted(e.key for e in project.environments.all()) == ["development", "production"]
    assert sorted(f.key for f in project.flags.all()) == ["button-color", "new-checkout"]
    development = Environment.objects.get(key="development")
    production = Environment.objects.get(key="production")
    dev = Evaluator(environment_document(development))
    prod = Evaluator(environment_document(production))
    # new-checkout: on in development serving true to everyone; off in production
    assert dev.evaluate("new-checkout", {"targetingKey": "anyone"}).value is True
    assert prod.evaluate("new-checkout", {}).value is False
    assert prod.evaluate("new-checkout", {}).reason == "DISABLED"
    # button-color: country in [US, CA] → green, default red; off in production (red)
    assert dev.evaluate("button-color", {"country": "CA"}).value == "green"
    assert dev.evaluate("button-color", {"country": "FR"}).value == "red"
    assert prod.evaluate("button-color", {"country": "US"}).value == "red"
    assert Flag.objects.get(key="button-color").kind == "string"


def test_bootstrap_demo__prints_login_and_working_keys(demo, django_user_model):
    assert "Staff login:  admin / " in demo
    password = demo.split("Staff login:  admin / ")[1].split()[0]
    assert django_user_model.objects.get(username="admin").check_password(password)
    keys = [line.split()[-1] for line in demo.splitlines() if line.startswith("SDK key")]
    assert len(keys) == 4
    assert all(sdk_key_authenticate(key) is not None for key in keys)


def test_bootstrap_demo__twice__idempotent_and_keeps_edits(demo):
    state = FlagState.objects.get(flag__key="new-checkout", environment__key="development")
    run("set_flag", "demo", "development", "new-checkout", "--off")
    counts = (Flag.objects.count(), FlagState.objects.count(), Environment.objects.count())
    second = run("bootstrap_demo")
    assert "nothing new" in second
    assert (Flag.objects.count(), FlagState.objects.count(), Environment.objects.count()) == counts
    state.refresh_from_db()
    assert state.enabled is False
    assert demo.split("Staff login:")[1].split()[2] == second.split("Staff login:")[1].split()[2]


def test_create_sdk_key__prints_only_the_key(demo):
    out = run("create_sdk_key", "demo", "production").strip()
    assert out.startswith("srv-") and "\n" not in out
    assert sdk_key_authenticate(out).environment.key == "production"
    client = run("create_sdk_key", "demo", "production", "--client").strip()
    assert client.startswith("cli-")


def test_create_sdk_key__unknown_environment__error(demo):
    with pytest.raises(CommandError, match="no environment"):
        run("create_sdk_key", "demo", "staging")


def test_set_flag__on_off_default_variant__audited_as_command(demo):
    run("set_flag", "demo", "production", "button-color", "--on")
    out = run("set_flag", "demo", "production", "button-color", "--default-variant", "blue")
    assert "version" in out
    state = FlagState.objects.get(flag__key="button-color", environment__key="production")
    assert state.enabled and state.default_rule == {"variant": "blue"}
    entry = AuditLog.objects.filter(flag__key="button-color", source="command").first()
    assert entry.actor_label == "manage.py set_flag"


def test_set_flag__unknown_variant__error_names_field(demo):
    with pytest.raises(CommandError, match="defaultRule.variant"):
        run("set_flag", "demo", "production", "button-color", "--default-variant", "pink")


def test_set_flag__unknown_flag__error(demo):
    with pytest.raises(CommandError, match="no flag"):
        run("set_flag", "demo", "production", "nope", "--on")


def test_demo_credentials_file__private(demo, settings):
    path = settings.VAR_DIR / "demo-credentials.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert set(json.loads(path.read_text())["keys"]) == {"development", "production"}
