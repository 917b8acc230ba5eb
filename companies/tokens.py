"""Company stream tokens: a JWT that opens one organization's company stream for one member
for a few minutes (``?token=`` on ``/stream/updates``, for EventSource, which cannot send
headers). Their audience is their own (``flagstream:company-stream``): a login JWT is never
taken for one, nor one for a login JWT. At most 5 per user and company in 30 seconds.

The stream a token opened is bound to the membership, not to the token's lifetime: a dashboard
stays open for hours, and ends within seconds when the member is removed, the user deactivated
or the company's streaming turned off (see companies.streams).
"""

from __future__ import annotations

import time

import jwt
from django.conf import settings

from tenancy.api.admission import Refused
from tenancy.models import Membership
from tenancy.rate_limits import rate_limit_hit

AUDIENCE = "flagstream:company-stream"
ALGORITHM = "HS256"
RATE_PER_30_SECONDS = 5


def company_token_issue(*, user, organization) -> tuple[str, int]:
    """``(token, expires at unix time)``; Refused (429) past the rate."""
    retry_after = rate_limit_hit("company-stream-token", f"{user.pk}:{organization.pk}",
                                 RATE_PER_30_SECONDS, window_seconds=30)
    if retry_after is not None:
        raise Refused(429, "rate_limited", f"at most {RATE_PER_30_SECONDS} stream tokens per "
                                           "company in 30 seconds",
                      headers={"Retry-After": str(retry_after)})
    now = int(time.time())
    expires = now + settings.STREAM_TOKEN_TTL_SECONDS
    claims = {"aud": AUDIENCE, "sub": str(user.pk), "org": organization.pk, "iat": now,
              "exp": expires}
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), expires


def company_token_user_id(token: str, organization) -> int:
    """The user id a token was issued to, if it opens ``organization``'s stream now (None:
    any company's, for telling an unknown company from a bad token)."""
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                            audience=AUDIENCE, options={"require": ["exp", "aud", "org", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Refused(401, "token_expired", "the stream token expired: get a new one") \
            from None
    except jwt.InvalidTokenError:
        raise Refused(401, "invalid_token", "not a company stream token") from None
    if organization is not None and claims["org"] != organization.pk:
        raise Refused(403, "wrong_company", "this stream token is for another company")
    return int(claims["sub"])


def company_membership(user, organization) -> Membership:
    """``user``'s membership of ``organization`` if it may follow its live updates now;
    Refused (403) if not a member or the company's streaming is off."""
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None:
        raise Refused(403, "permission_denied", f"you are not a member of {organization.slug!r}")
    if not organization.streaming_enabled:
        raise Refused(403, "streaming_disabled",
                      f"live updates are turned off for {organization.slug!r}")
    return membership
