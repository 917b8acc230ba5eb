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

from tenancy.rate_limits import rate_limit_hit

AUDIENCE = "flagstream:company-stream"
ALGORITHM = "HS256"
RATE_PER_30_SECONDS = 5


class TokenRefused(Exception):
    def __init__(self, status: int, code: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


def company_token_issue(*, user, organization) -> tuple[str, int]:
    """``(token, expires at unix time)``; TokenRefused (429) past the rate."""
    retry_after = rate_limit_hit("company-stream-token", f"{user.pk}:{organization.pk}",
                                 RATE_PER_30_SECONDS, window_seconds=30)
    if retry_after is not None:
        raise TokenRefused(429, "rate_limited", f"at most {RATE_PER_30_SECONDS} stream tokens "
                                                "per company in 30 seconds", retry_after)
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
        raise TokenRefused(401, "token_expired", "the stream token expired: get a new one") \
            from None
    except jwt.InvalidTokenError:
        raise TokenRefused(401, "invalid_token", "not a company stream token") from None
    if organization is not None and claims["org"] != organization.pk:
        raise TokenRefused(403, "wrong_company", "this stream token is for another company")
    return int(claims["sub"])
