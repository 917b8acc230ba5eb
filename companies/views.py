"""``POST /stream/token?companyId=`` (a member) and ``POST /stream/publish`` (an organization
API key with the ``publish`` scope)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tenancy.api.admission import Refused, answer, bearer_key, bearer_token, read_json, \
    rate_limit, request_user, require_scope, validation_refused
from tenancy.models import APIKeyScope, Organization
from tenancy.selectors import api_key_authenticate

from .events import MAX_BATCH, company_updates_publish, event_type_for, update_checked
from .tokens import company_membership, company_token_issue

MAX_BODY = 2 * 1024 * 1024


def _member(request, slug: str | None):
    """The calling user's membership of company ``slug`` (session or login JWT)."""
    if not slug:
        raise Refused(400, "validation_error", "companyId: is required",
                      fields={"companyId": ["is required"]})
    user = request_user(request, bearer_token(request.headers.get("Authorization")),
                        missing="log in or send a user token (Authorization: Bearer …)")
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise Refused(404, "not_found", f"no company {slug!r}")
    return company_membership(user, organization)


@csrf_exempt
@require_POST
@answer
def stream_token(request):
    """A token that opens the company stream for the calling member (``?token=``)."""
    membership = _member(request, request.GET.get("companyId"))
    token, expires = company_token_issue(user=membership.user,
                                         organization=membership.organization)
    slug = membership.organization.slug
    return JsonResponse({
        "token": token,
        "expiresAt": datetime.datetime.fromtimestamp(expires, datetime.UTC)
        .isoformat().replace("+00:00", "Z"),
        "streamEndpoint": f"/stream/updates?companyId={slug}"}, status=201)


@csrf_exempt
@require_POST
@answer
def publish(request):
    """One update ``{companyId, type, data}`` or a batch ``{"events": [...]}`` (at most 500),
    all for the key's organization; all or nothing."""
    api_key = require_scope(api_key_authenticate(bearer_key(request.headers.get(
        "Authorization"))), APIKeyScope.PUBLISH)
    rate_limit(api_key, "publish", settings.API_RATE_LIMIT_PER_MINUTE)
    body = read_json(request, MAX_BODY)
    if isinstance(body, dict) and "events" in body:
        items = body["events"]
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            raise Refused(400, "validation_error", f"events: must be a list of 1 to {MAX_BATCH}"
                                                   " updates",
                          fields={"events": [f"must be a list of 1 to {MAX_BATCH} updates"]})
        where = [f"events[{n}]." for n in range(len(items))]
    else:
        items, where = [body], [""]
    organization = api_key.organization
    updates = []
    for item, prefix in zip(items, where):
        try:
            company, kind, data = update_checked(item, prefix)
        except ValidationError as error:
            raise validation_refused(error) from None
        if company != organization.slug:
            raise Refused(403, "permission_denied", f"{prefix}companyId: this key publishes for "
                                                    f"{organization.slug!r} only",
                          fields={f"{prefix}companyId": ["not this key's company"]})
        updates.append((event_type_for(kind) or kind, data))  # "metrics.calculated" too
    if not organization.streaming_enabled:
        raise Refused(403, "streaming_disabled",
                      f"live updates are turned off for {organization.slug!r}")
    published = company_updates_publish(organization, updates)
    return JsonResponse({"published": published}, status=202)
