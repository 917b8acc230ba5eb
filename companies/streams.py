"""The company stream: ``GET /stream/updates?companyId=<org>[&lastEventId=]``.

Every live update of one organization (``metric_updated``, ``sroi_updated``, ``vis_updated``,
``journey_flag_updated`` and whatever else a publisher sends), ``event:`` its type, ``data`` the
published JSON with ``companyId``, ``id:`` for replay (``Last-Event-ID`` or ``?lastEventId=``).
For members of that organization, by a company stream token (``?token=``, from
``POST /stream/token``), a login JWT (``Authorization: Bearer``) or a session cookie (the
browser). Another company's id is 403, an unknown one 404, a company whose streaming is off 403
``streaming_disabled``. A heartbeat comment every COMPANY_STREAM_HEARTBEAT_SECONDS (30). An
open stream ends within STREAM_AUTH_RECHECK_SECONDS when the member is removed, the user
deactivated or the company's streaming turned off.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model

from streaming.kinds import Credential, CredentialKind, NotCached, StreamDenied, StreamKind, \
    StreamPlan
from tenancy.api.admission import Refused, bearer_token
from tenancy.models import Membership, Organization
from tenancy.sessions import session_user
from tenancy.tokens import ACCESS, TokenError, token_user

from .channels import COMPANY_PREFIX, MEMBER_CREDENTIAL, company_channel
from .tokens import company_membership, company_token_user_id


class MemberCredential(CredentialKind):
    """A membership: gone, its user deactivated, or its company's streaming turned off."""

    name = MEMBER_CREDENTIAL
    revoked_text = "you are no longer a member of this company, or its live updates are off"

    def revoked(self, ids) -> set[int]:
        ids = set(ids)
        alive = Membership.objects.filter(id__in=ids, user__is_active=True,
                                          organization__streaming_enabled=True)
        return ids - set(alive.values_list("id", flat=True))


member_credential_kind = MemberCredential()


def denied(refused: Refused) -> StreamDenied:
    """A request check's refusal, as the stream's answer."""
    return StreamDenied(refused.status, refused.body["error"], refused.body["detail"])


def _user_of(request, organization):
    """The user the request speaks for (token, login JWT or session), or StreamDenied."""
    token = request.query.get("token")
    if token:
        try:
            user_id = company_token_user_id(token, organization)
        except Refused as refused:
            raise denied(refused) from None
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise StreamDenied(401, "invalid_token", "the token's user is no longer active")
        return user
    bearer = bearer_token(request.header("authorization"))
    if bearer:
        try:
            return token_user(bearer, ACCESS)
        except TokenError as exc:
            raise StreamDenied(401, "invalid_token", str(exc)) from None
    user = session_user(request.header("cookie"))
    if user is None:
        raise StreamDenied(401, "not_authenticated",
                           "log in, send a user token (Authorization: Bearer …) or a company "
                           "stream token (?token= from POST /stream/token?companyId=)")
    return user


class CompanyStream(StreamKind):
    """Live updates of one company (organization) for its dashboards."""

    name = "company"
    path = "/stream/updates"
    channel_prefix = COMPANY_PREFIX
    stats_by_channel = True
    openapi_query = {"companyId": "the organization's slug",
                     "token": "a company stream token from POST /stream/token?companyId="}

    @property
    def heartbeat_seconds(self) -> float:
        return settings.COMPANY_STREAM_HEARTBEAT_SECONDS

    def authorize(self, request, *, cached_only=False):
        if cached_only:
            raise NotCached
        slug = request.query.get("companyId")
        if not slug:
            raise StreamDenied(400, "validation_error", "companyId: is required",
                               fields={"companyId": ["is required"]})
        organization = Organization.objects.filter(slug=slug).first()
        user = _user_of(request, organization)  # 401 comes first: unknown ids are not told
        if organization is None:
            raise StreamDenied(404, "not_found", f"no company {slug!r}")
        try:
            membership = company_membership(user, organization)
        except Refused as refused:
            raise denied(refused) from None
        return StreamPlan(company_channel(organization.pk),
                          credential=Credential(MEMBER_CREDENTIAL, membership.pk))


STREAM_KINDS = [CompanyStream()]
