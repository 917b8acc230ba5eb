"""The demo data of `make run` (exact; tests and docs rely on it). Idempotent."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from . import services
from .audit import Actor
from tenancy import services as tenancy_services
from tenancy.models import Organization, Role
from tenancy.selectors import api_key_authenticate

from .models import Environment, Flag, Project, SDKKeyKind

ORGANIZATION = "acme"
PROJECT = "demo"
ENVIRONMENTS = ("development", "production")
STAFF_USERNAME = "admin"


@dataclass
class DemoInfo:
    username: str
    password: str | None
    keys: dict = field(default_factory=dict)  # {environment: {"server": raw, "client": raw}}
    api_key: str | None = None  # the organization's key for agent CLIs (ingest, upload, read)
    created: list = field(default_factory=list)


def _credentials_path():
    return settings.VAR_DIR / "demo-credentials.json"


@transaction.atomic
def demo_bootstrap(*, actor: Actor) -> DemoInfo:
    """Create whatever of the demo is missing; leave what exists (and any edits to it) alone.

    Secrets are shown once by design; for the local demo they are also kept in
    ``var/demo-credentials.json`` (mode 600) so that every `make run` can print them.
    """
    path = _credentials_path()
    saved = json.loads(path.read_text()) if path.exists() else {}
    info = DemoInfo(username=STAFF_USERNAME, password=saved.get("password"),
                    keys=saved.get("keys", {}), api_key=saved.get("apiKey"))

    User = get_user_model()
    user = User.objects.filter(username=STAFF_USERNAME).first()
    if user is None:
        info.password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(STAFF_USERNAME, "admin@acme.example", info.password)
        info.created.append(f"staff user {STAFF_USERNAME}")

    organization = Organization.objects.filter(slug=ORGANIZATION).first()
    if organization is None:
        organization = tenancy_services.organization_create(slug=ORGANIZATION, name="Acme Inc.")
        info.created.append(f"organization {ORGANIZATION}")
    tenancy_services.membership_set(organization=organization, user=user, role=Role.ADMIN)
    if api_key_authenticate(info.api_key) is None:
        _, info.api_key = tenancy_services.api_key_create(
            organization=organization, scopes=["ingest", "upload", "read"], name="demo")
        info.created.append("organization API key")

    project = Project.objects.filter(organization=organization, key=PROJECT).first()
    if project is None:
        project = services.project_create(organization=organization, key=PROJECT,
                                          name="Demo", actor=actor)
        info.created.append(f"project {PROJECT}")
    environments = {}
    for key in ENVIRONMENTS:
        environment = Environment.objects.filter(project=project, key=key).first()
        if environment is None:
            environment = services.environment_create(project=project, key=key,
                                                      name=key.capitalize(), actor=actor)
            info.created.append(f"environment {key}")
        environments[key] = environment
        env_keys = info.keys.setdefault(key, {})
        for kind in (SDKKeyKind.SERVER, SDKKeyKind.CLIENT):
            if kind not in env_keys or not environment.sdk_keys.filter(kind=kind).exists():
                _, env_keys[kind] = services.sdk_key_create(
                    environment=environment, kind=kind, name="demo", actor=actor)
                info.created.append(f"{kind} key for {key}")

    development, production = environments["development"], environments["production"]
    if not Flag.objects.filter(project=project, key="new-checkout").exists():
        flag = services.flag_create(project=project, key="new-checkout", name="New checkout",
                                    kind="boolean", tags=["checkout"], actor=actor,
                                    description="The redesigned checkout flow.")
        services.flag_state_update(state=flag.states.get(environment=development), enabled=True,
                                   default_rule={"variant": "true"}, actor=actor)
        info.created.append("flag new-checkout")
    if not Flag.objects.filter(project=project, key="button-color").exists():
        flag = services.flag_create(
            project=project, key="button-color", name="Button color", kind="string",
            variants=[{"key": c, "value": c} for c in ("red", "green", "blue")],
            tags=["ui"], description="Colour of the buy button.", actor=actor)
        services.flag_state_update(
            state=flag.states.get(environment=development), enabled=True, off_variant="red",
            rules=[{"description": "North America",
                    "constraints": [{"attribute": "country", "operator": "in",
                                     "values": ["US", "CA"]}],
                    "variant": "green"}],
            default_rule={"variant": "red"}, actor=actor)
        services.flag_state_update(state=flag.states.get(environment=production), enabled=False,
                                   off_variant="red", default_rule={"variant": "red"}, actor=actor)
        info.created.append("flag button-color")

    path.write_text(json.dumps({"password": info.password, "keys": info.keys,
                                "apiKey": info.api_key}, indent=2))
    path.chmod(0o600)
    return info
