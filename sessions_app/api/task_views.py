"""Agent-to-agent tasks over REST, under ``/agent-to-agent/<org>/<agent>/tasks/``.

An application (a logged-in member of the organization: session or user JWT, or an API key with
the ``agent`` scope) creates a task and reads it; the agent (API key, scope ``agent``) posts its
messages; anyone of the organization may poll them (``?after=<sequence>``) or cancel the task.
Another organization's tasks are not found (404).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenancy.api.admission import request_user, validation_refused
from tenancy.models import APIKeyScope, Organization
from tenancy.selectors import api_key_authenticate, organizations_for_user

from .. import agent_tasks
from ..models import Task
from ..stream_tokens import TokenRefused, stream_token_issue
from .admission import Refused, bearer_token, json_object, rate_limit, require_scope
from .views import answer, read_json

MAX_BODY = 1024 * 1024


class Caller:
    def __init__(self, organization: Organization, user=None, api_key=None):
        self.organization = organization
        self.user = user
        self.api_key = api_key


def caller(request, org: str, *, key_scope: str | None = APIKeyScope.AGENT,
           users: bool = True) -> Caller:
    """Who calls, for organization ``org``: an API key (with ``key_scope``) or a member
    (session or user JWT). 401 without credentials, 403 for a key without the scope, 404 for
    an organization that is not the caller's."""
    token = bearer_token(request.headers.get("Authorization"))
    if token and token.startswith("ap_live_"):
        api_key = api_key_authenticate(token)
        if key_scope is None and api_key is not None:
            raise Refused(403, "insufficient_scope",
                          "this is for a logged-in user, not an API key")
        require_scope(api_key, key_scope)
        if api_key.organization.slug != org:
            raise Refused(404, "not_found", f"no organization {org!r} of yours")
        rate_limit(api_key, "task", settings.API_RATE_LIMIT_PER_MINUTE)
        return Caller(api_key.organization, api_key=api_key)
    user = request_user(request, token, missing="log in, send a user token, or an API key "
                                                "(Authorization: Bearer …)")
    if not users:
        raise Refused(403, "permission_denied", "this is the agent's side: use an API key "
                                                "with the 'agent' scope")
    organization = organizations_for_user(user).filter(slug=org).first()
    if organization is None:
        raise Refused(404, "not_found", f"no organization {org!r} of yours")
    rate_limit(user, "task", settings.API_RATE_LIMIT_PER_MINUTE)
    return Caller(organization, user=user)


def task_of(who: Caller, agent: str, task_id: str) -> Task:
    task = Task.objects.select_related("organization").filter(
        organization=who.organization, agent=agent, task_id=task_id).first()
    if task is None:
        raise Refused(404, "not_found", f"no task {task_id!r} of agent {agent!r}")
    return task


def with_endpoints(request, task: Task) -> dict:
    base = f"/agent-to-agent/{task.organization.slug}/{task.agent}/tasks/{task.task_id}"
    return {**agent_tasks.task_body(task), "streamEndpoint": f"{base}/stream",
            "streamTokenEndpoint": f"{base}/stream-token", "messagesEndpoint": f"{base}/messages"}


def body_of(request) -> dict:
    """The body as a JSON object (an empty body is ``{}``), at most MAX_BODY bytes."""
    body = read_json(request, MAX_BODY)
    return json_object({} if body is None else body)


def conflict(exc: agent_tasks.TaskConflict) -> Refused:
    return Refused(409, "conflict", str(exc))


@csrf_exempt
@require_POST
@answer
def task_create(request, org, agent):
    who = caller(request, org)
    body = body_of(request)
    try:
        task = agent_tasks.task_create(organization=who.organization, agent=agent,
                                       task_id=body.get("id"), context_id=body.get("contextId"),
                                       input=body.get("input"), created_by=who.user)
    except ValidationError as exc:
        raise validation_refused(exc) from None
    except agent_tasks.TaskConflict as exc:
        raise conflict(exc) from None
    return JsonResponse(with_endpoints(request, task), status=201)


@require_GET
@answer
def task_detail(request, org, agent, task_id):
    who = caller(request, org, key_scope=APIKeyScope.AGENT)
    return JsonResponse(with_endpoints(request, task_of(who, agent, task_id)))


@csrf_exempt
@require_http_methods(["GET", "POST"])
@answer
def task_messages(request, org, agent, task_id):
    """POST: the agent adds a message. GET: every message after ``?after=`` (the polling
    fallback of the stream)."""
    if request.method == "POST":
        who = caller(request, org, users=False)
        task = task_of(who, agent, task_id)
        body = body_of(request)
        try:
            message = agent_tasks.task_message_post(
                task=task, kind=body.get("kind"), content=body.get("content", ""),
                progress=body.get("progress"), metadata=body.get("metadata"))
        except ValidationError as exc:
            raise validation_refused(exc) from None
        except agent_tasks.TaskConflict as exc:
            raise conflict(exc) from None
        return JsonResponse({**agent_tasks.message_body(message), "state": task.state},
                            status=201)
    who = caller(request, org)
    task = task_of(who, agent, task_id)
    raw = request.GET.get("after", "0")
    if not raw.isdigit():
        raise Refused(400, "validation_error", "after: must be a whole number ≥ 0",
                      fields={"after": ["must be a whole number ≥ 0"]})
    messages = agent_tasks.task_messages_after(task, int(raw))
    return JsonResponse({"task": agent_tasks.task_body(task),
                         "messages": [agent_tasks.message_body(m) for m in messages]})


@csrf_exempt
@require_POST
@answer
def task_cancel(request, org, agent, task_id):
    who = caller(request, org)
    try:
        task = agent_tasks.task_cancel(task=task_of(who, agent, task_id))
    except agent_tasks.TaskConflict as exc:
        raise conflict(exc) from None
    return JsonResponse(agent_tasks.task_body(task))


@csrf_exempt
@require_POST
@answer
def task_stream_token(request, org, agent, task_id):
    """A token that opens this task's stream for the logged-in user (``?token=``)."""
    who = caller(request, org, key_scope=None)
    task = task_of(who, agent, task_id)
    try:
        token, row = stream_token_issue(user=who.user, task=task)
    except TokenRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        raise Refused(refused.status, refused.code, refused.detail, headers=headers) from None
    return JsonResponse({"token": token,
                         "expiresAt": row.expires_at.isoformat().replace("+00:00", "Z"),
                         "streamEndpoint": with_endpoints(request, task)["streamEndpoint"]},
                        status=201)


@require_GET
def agent_card(request, org, agent):
    """The agent's A2A card: where A2A clients reach its tasks (HTTP+JSON binding, v1.0)."""
    if not Organization.objects.filter(slug=org).exists():
        return JsonResponse({"error": "not_found", "detail": f"no organization {org!r}"},
                            status=404)
    base = request.build_absolute_uri(f"/agent-to-agent/{org}/{agent}")
    return JsonResponse({
        "name": agent, "description": f"Agent {agent!r} of {org}, through Flagstream: follow "
                                      f"its tasks with SubscribeToTask (a stream token as "
                                      f"Bearer).",
        "supportedInterfaces": [{"url": base, "protocolBinding": "HTTP+JSON",
                                 "protocolVersion": "1.0"}],
        "version": "1.0.0",
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "tasks", "name": "Tasks", "description": "Work handed to this "
                    "agent, followed live.", "tags": ["tasks"]}]})
