"""Two organizations with every kind of credential, good and bad, for the tenant-isolation
matrix (tests/e2e/test_live_isolation.py). Run in the live server's own environment:

    manage.py shell -c "from tests.e2e.isolation_world import build; build()"

prints one JSON object: the credentials (valid, revoked, expired, of the wrong scope or role,
of the other organization or of another environment or resource) and the ids the URLs need.
Everything an organization owns is named with its ``SECRET`` marker, so that a response can be
searched for data of a tenant it must not show.
"""

from __future__ import annotations

import contextlib
import json

from django.contrib.auth import get_user_model
from django.test import override_settings

from companies.tokens import company_token_issue
from flags import services as flags
from flags.audit import Actor
from flags.tokens import sdk_stream_token_issue
from sessions_app import agent_tasks
from sessions_app.stream_tokens import stream_token_issue
from tenancy import services as tenancy
from tenancy.models import Role
from tenancy.tokens import access_token_issue

PASSWORD = "isolation-Pass-2026!"
SECRET = {"a": "ALPHASECRET", "b": "BRAVOSECRET"}
ACTOR = Actor(source="command", label="isolation world")
SCOPES = ("ingest", "upload", "read", "publish", "agent")


def _staff_group():
    """What an operator gives staff who are not superusers: the admin's pages of every app
    (each shows them their own organizations' objects only)."""
    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name="isolation staff")
    if created:
        group.permissions.set(Permission.objects.filter(
            content_type__app_label__in=["tenancy", "flags", "sessions_app"]))
    return group


def _user(name: str, organization, role: str | None, staff: bool = False):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD,
                                                is_staff=staff)
    if staff:
        user.groups.add(_staff_group())
    if role:
        tenancy.membership_set(organization=organization, user=user, role=role)
    return user


def _organization(tag: str) -> dict:
    secret = SECRET[tag]
    organization = tenancy.organization_create(slug=f"iso-{tag}", name=f"{secret} Inc.")
    tenancy.organization_streaming_set(organization=organization, enabled=True)
    users = {role: _user(f"{tag}-{role}", organization, role) for role in Role.values}
    users["staff"] = _user(f"{tag}-staff", organization, Role.ADMIN, staff=True)
    users["outsider"] = _user(f"{tag}-outsider", organization, None)  # in no organization

    project = flags.project_create(organization=organization, key=f"iso-{tag}-proj",
                                   name=f"{secret} project", actor=ACTOR)
    environments = {key: flags.environment_create(project=project, key=key,
                                                  name=f"{secret} {key}", actor=ACTOR)
                    for key in ("dev", "prod")}
    flag = flags.flag_create(project=project, key="iso-flag", name=f"{secret} flag",
                             kind="boolean", actor=ACTOR, description=f"{secret} description")
    # Only the dev environment's state names this marker: another environment's key must
    # never see it.
    flags.flag_state_update(
        state=flag.states.get(environment=environments["dev"]), enabled=True, actor=ACTOR,
        rules=[{"constraints": [{"attribute": "team", "operator": "in",
                                 "values": [f"{secret}-DEVONLY"]}], "variant": "true"}],
        default_rule={"variant": "false"})
    flags.segment_create(project=project, key="iso-segment", name=f"{secret} segment",
                         actor=ACTOR)

    sdk, sdk_keys = {}, {}
    for env_key, environment in environments.items():
        for kind in ("server", "client"):
            sdk_keys[f"{env_key}-{kind}"], sdk[f"{env_key}-{kind}"] = flags.sdk_key_create(
                environment=environment, kind=kind, actor=ACTOR, name="iso")
    key, sdk["revoked"] = flags.sdk_key_create(environment=environments["dev"], kind="server",
                                               actor=ACTOR, name="iso revoked")
    revoked_ofrep = sdk_stream_token_issue(key)  # issued while the key still worked
    flags.sdk_key_revoke(sdk_key=key, actor=ACTOR)
    key, sdk["expired"] = flags.sdk_key_create(environment=environments["dev"], kind="server",
                                               actor=ACTOR, name="iso expired")
    flags.sdk_key_rotate(sdk_key=key, actor=ACTOR, grace_seconds=0)
    key, sdk["revoked-client"] = flags.sdk_key_create(environment=environments["dev"],
                                                      kind="client", actor=ACTOR)
    flags.sdk_key_revoke(sdk_key=key, actor=ACTOR)

    api = {scope: tenancy.api_key_create(organization=organization, scopes=[scope],
                                         name=f"iso {scope}")[1] for scope in SCOPES}
    api["all"] = tenancy.api_key_create(organization=organization, scopes=list(SCOPES))[1]
    key, api["revoked"] = tenancy.api_key_create(organization=organization, scopes=list(SCOPES))
    tenancy.api_key_revoke(api_key=key)
    key, api["expired"] = tenancy.api_key_create(organization=organization, scopes=list(SCOPES))
    tenancy.api_key_rotate(api_key=key, grace_seconds=0)  # its grace ends at once

    task = agent_tasks.task_create(organization=organization, agent="iso-agent",
                                   task_id=f"iso-{tag}-task", input={"text": secret})
    agent_tasks.task_message_post(task=task, kind="progress", content=f"{secret} working",
                                  progress=10)
    other_task = agent_tasks.task_create(organization=organization, agent="iso-agent",
                                         task_id=f"iso-{tag}-other")
    staff = users["staff"]
    tokens = {
        "user": {role: access_token_issue(user) for role, user in users.items()},
        "task": stream_token_issue(user=staff, task=task)[0],
        "task-other": stream_token_issue(user=staff, task=other_task)[0],
        "company": company_token_issue(user=staff, organization=organization)[0],
        # the stream token of an OFREP bulk response's eventStreams URL
        "ofrep": sdk_stream_token_issue(sdk_keys["dev-client"]),
        "ofrep-other-env": sdk_stream_token_issue(sdk_keys["prod-client"]),
        "ofrep-revoked": revoked_ofrep,
        "ofrep-expired": sdk_stream_token_issue(sdk_keys["dev-client"], ttl=-30),
    }
    with override_settings(JWT_ACCESS_TTL_SECONDS=-30, STREAM_TOKEN_TTL_SECONDS=-30):
        tokens["user-expired"] = access_token_issue(staff)
        tokens["task-expired"] = stream_token_issue(user=staff, task=other_task)[0]
        tokens["company-expired"] = company_token_issue(user=staff, organization=organization)[0]
    # A member who leaves: their login token is revoked with the password change, and the
    # stream tokens they were given stop opening streams.
    leaver = _user(f"{tag}-leaver", organization, Role.ADMIN, staff=True)
    tokens["user-revoked"] = access_token_issue(leaver)
    tokens["task-revoked"] = stream_token_issue(user=leaver, task=task)[0]
    tokens["company-revoked"] = company_token_issue(user=leaver, organization=organization)[0]
    tenancy.membership_remove(membership=leaver.memberships.get(organization=organization))
    leaver.set_password(PASSWORD + "-changed")
    leaver.save()

    return {"slug": organization.slug, "secret": secret, "project": project.key,
            "flag": flag.key, "segment": "iso-segment", "task": task.task_id,
            "task_pk": task.pk, "other_task": other_task.task_id, "agent": "iso-agent",
            "sdk": sdk, "api": api, "tokens": tokens,
            "users": {role: user.username for role, user in users.items()},
            "password": PASSWORD}


def build() -> None:
    print(json.dumps({"a": _organization("a"), "b": _organization("b")}))


@contextlib.contextmanager
def two_organizations(var_dir, ops_token: str, extra_env: dict | None = None):
    """A live server (tests.live.LiveStack) whose database holds both organizations, in
    ``stack.world``; every credential in it, and ``ops_token``, must stay out of the logs.
    Rate limits are off: these runs send far more than any client (the limits have tests of
    their own)."""
    from tests.live import LiveStack

    stack = LiveStack(var_dir, extra_env={
        "STREAM_OPS_TOKEN": ops_token, "INGEST_RATE_LIMIT_PER_MINUTE": "0",
        "UPLOAD_RATE_LIMIT_PER_MINUTE": "0", "SDK_RATE_LIMIT_PER_MINUTE": "0",
        # The matrix presents hundreds of refused credentials a minute, by design.
        "CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE": "0", "API_RATE_LIMIT_PER_MINUTE": "0",
        **(extra_env or {})})
    try:
        stack.manage("migrate", "--noinput")
        output = stack.manage("shell", "-c",
                              "from tests.e2e.isolation_world import build; build()")
        stack.world = json.loads(output.strip().splitlines()[-1])
        stack.ops_token = ops_token
        stack.remember(ops_token, [[w["sdk"], w["api"], w["tokens"], w["password"]]
                                   for w in stack.world.values()])
        stack.start_server()
        yield stack
    finally:
        stack.stop()
