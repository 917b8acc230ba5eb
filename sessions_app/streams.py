"""The sessions app's stream kind: ``GET /api/realtime/stream[?conversationId=]``.

Every session event of one organization (``conversation.started``, ``message.created``,
``conversation.error``, ``conversation.completed``, ``conversation.uploaded``), each with
``event:`` its type and ``id:`` for replay; ``?conversationId=`` keeps one conversation's
(the client's ``conversation_id``). Opened with an organization API key with the ``read`` scope
(``Authorization: Bearer ap_live_…``) or, for the live pages, a staff user's session cookie
(``?organization=<slug>`` picks one of theirs). Streams close when the key is revoked or the
user loses staff access. Registered in ``SessionsAppConfig.ready()``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404

from streaming.kinds import CredentialKind, NotCached, StreamDenied, StreamKind, StreamPlan
from tenancy.models import APIKey, APIKeyScope
from tenancy.selectors import (
    api_key_authenticate,
    organization_default_for_user,
    organization_get_for_user,
)
from tenancy.sessions import session_user

from .api.admission import Refused, bearer_token, require_scope
from .channels import (
    API_KEY_CREDENTIAL,
    SESSIONS_PREFIX,
    STAFF_CREDENTIAL,
    api_key_credential,
    sessions_channel,
    staff_credential,
)


class APIKeyCredential(CredentialKind):
    """Organization API keys: revoked, or past the grace period of a rotation."""

    name = API_KEY_CREDENTIAL
    revoked_text = "the API key of this stream was revoked"

    def revoked(self, ids) -> set[int]:
        return APIKey.inactive_ids(ids)


class StaffCredential(CredentialKind):
    """Staff sessions: the user was deactivated or is no longer staff."""

    name = STAFF_CREDENTIAL
    revoked_text = "your staff access ended"

    def revoked(self, ids) -> set[int]:
        ids = list(ids)
        active = set(get_user_model().objects.filter(id__in=ids, is_active=True, is_staff=True)
                     .values_list("id", flat=True))
        return set(ids) - active


api_key_credential_kind = APIKeyCredential()
staff_credential_kind = StaffCredential()


class RealtimeStream(StreamKind):
    """Live agent-session events of the key's organization.

    ``event:`` is the event type (``conversation.started``, ``message.created``, …); every
    frame has an ``id:`` and is replayed after a reconnect (Last-Event-ID).
    """

    name = "sessions"
    path = "/api/realtime/stream"
    channel_prefix = SESSIONS_PREFIX
    openapi_security = ("organizationApiKey", "staffSession")
    openapi_query = {"conversationId": "only this conversation's events (the client's id)",
                     "organization": "staff sessions: which of your organizations (slug)"}

    def authorize(self, request, *, cached_only=False):
        if cached_only:
            raise NotCached
        conversation_id = request.query.get("conversationId") or None
        accepts = None
        if conversation_id:
            def accepts(event):
                return event.payload.get("conversation_id") == conversation_id
        authorization = (request.header("authorization") or "").strip()
        if authorization:
            try:
                api_key = require_scope(api_key_authenticate(bearer_token(authorization)),
                                        APIKeyScope.READ)
            except Refused as refused:
                extra = {k: v for k, v in refused.body.items() if k not in ("error", "detail")}
                raise StreamDenied(refused.status, refused.body["error"],
                                   refused.body["detail"], **extra) from None
            return StreamPlan(sessions_channel(api_key.organization_id),
                              credential=api_key_credential(api_key.pk), accepts=accepts)
        user = session_user(request.header("cookie"), staff=True)
        if user is None:
            raise StreamDenied(401, "not_authenticated",
                               "send an organization API key with the 'read' scope "
                               "(Authorization: Bearer ap_live_…) or log in as staff")
        slug = request.query.get("organization")
        try:
            organization = (organization_get_for_user(user, slug) if slug
                            else organization_default_for_user(user))
        except Http404:
            organization = None
        if organization is None:
            raise StreamDenied(404, "not_found", "no such organization of yours")
        return StreamPlan(sessions_channel(organization.pk),
                          credential=staff_credential(user.pk), accepts=accepts)


STREAM_KINDS = [RealtimeStream()]
