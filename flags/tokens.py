"""Stream tokens: a URL-safe stand-in for an environment key on OFREP's ``eventStreams`` URL."""

from __future__ import annotations

import time

import jwt
from django.conf import settings

from tenancy.tokens import ALGORITHM, TokenError

__all__ = ["TokenError", "sdk_stream_token_issue", "sdk_stream_token_key"]

STREAM = "sdk-stream"


def sdk_stream_token_issue(sdk_key, ttl: int | None = None) -> str:
    """A URL-safe token standing for ``sdk_key`` on streams (the key itself never goes in URLs).

    It expires, and it dies with the key: the stream checks the key is still active.
    """
    now = int(time.time())
    ttl = settings.SDK_STREAM_TOKEN_TTL_SECONDS if ttl is None else ttl
    claims = {"typ": STREAM, "kid": sdk_key.pk, "env": sdk_key.environment_id, "iat": now,
              "exp": now + ttl}
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def sdk_stream_token_key(token: str):
    """The active SDK key a stream token stands for; TokenError otherwise."""
    from django.utils import timezone

    from .models import SDKKey

    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                            options={"require": ["exp", "kid", "typ"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidTokenError:
        raise TokenError("invalid token") from None
    if claims["typ"] != STREAM:
        raise TokenError("not a stream token")
    sdk_key = (SDKKey.objects.filter(pk=claims["kid"])
               .select_related("environment__project__organization").first())
    if sdk_key is None or not sdk_key.is_active(timezone.now()):
        raise TokenError("token revoked")
    return sdk_key
