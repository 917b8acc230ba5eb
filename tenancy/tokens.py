"""Short-lived JWTs for users (``POST /api/auth/token``), accepted by every app's API.

Tokens are HS256-signed with SECRET_KEY and carry a fingerprint of the user's password hash:
changing the password, or deactivating the user, revokes every token issued before.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"


class TokenError(Exception):
    """The token is malformed, expired, of the wrong type or revoked."""


def _fingerprint(user) -> str:
    return hashlib.sha256(f"{user.pk}:{user.password}".encode()).hexdigest()[:16]


def _issue(user, token_type: str, ttl: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user.pk), "typ": token_type, "iat": now, "exp": now + ttl,
              "jti": uuid.uuid4().hex, "fp": _fingerprint(user)}
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def token_pair_issue(user) -> dict[str, str]:
    """A fresh access and refresh token for ``user``."""
    return {"access": _issue(user, ACCESS, settings.JWT_ACCESS_TTL_SECONDS),
            "refresh": _issue(user, REFRESH, settings.JWT_REFRESH_TTL_SECONDS)}


def access_token_issue(user) -> str:
    """A fresh access token for ``user`` (a refresh exchanges its token for one)."""
    return _issue(user, ACCESS, settings.JWT_ACCESS_TTL_SECONDS)


def token_user(token: str, token_type: str = ACCESS):
    """The active user a valid token of ``token_type`` was issued to; TokenError otherwise."""
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "typ", "fp"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidTokenError:
        raise TokenError("invalid token") from None
    if claims["typ"] != token_type:
        raise TokenError(f"not an {token_type} token")
    user = get_user_model().objects.filter(pk=claims["sub"]).first()
    if user is None or not user.is_active or claims["fp"] != _fingerprint(user):
        raise TokenError("token revoked")
    return user
