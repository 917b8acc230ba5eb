"""Stream tokens: a JWT that opens one task's stream for one user for a few minutes.

They have an audience of their own (``flagstream:task-stream``): a user's login JWT is never
taken for one, nor one for a login JWT. Each is a row (``TaskStreamToken``) too, so that a
stream opened with it ends when it expires or the user loses access, like any revoked
credential. At most ``STREAM_TOKEN_RATE`` are issued per user and task in 30 seconds.
"""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
from django.conf import settings
from django.utils import timezone

from tenancy.rate_limits import rate_limit_hit
from tenancy.selectors import organizations_for_user

from .models import Task, TaskStreamToken

AUDIENCE = "flagstream:task-stream"
ALGORITHM = "HS256"
RATE_PER_30_SECONDS = 5


class TokenRefused(Exception):
    def __init__(self, status: int, code: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


def stream_token_issue(*, user, task: Task) -> tuple[str, TaskStreamToken]:
    retry_after = rate_limit_hit("task-stream-token", f"{user.pk}:{task.pk}",
                                 RATE_PER_30_SECONDS, window_seconds=30)
    if retry_after is not None:
        raise TokenRefused(429, "rate_limited", f"at most {RATE_PER_30_SECONDS} stream tokens "
                                                "per task in 30 seconds", retry_after)
    now = timezone.now()
    row = TaskStreamToken.objects.create(
        task=task, user=user, created_at=now,
        expires_at=now + timedelta(seconds=settings.STREAM_TOKEN_TTL_SECONDS))
    claims = {"aud": AUDIENCE, "sub": str(user.pk), "tid": row.pk, "task": task.pk,
              "iat": int(time.time()), "exp": int(row.expires_at.timestamp())}
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), row


def stream_token_check(token: str | None, task: Task) -> TaskStreamToken:
    """The token row if ``token`` opens ``task``'s stream now; TokenRefused otherwise."""
    if not token:
        raise TokenRefused(401, "not_authenticated",
                           "a stream token is needed: POST …/stream-token, then ?token=")
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                            audience=AUDIENCE, options={"require": ["exp", "aud", "tid"]})
    except jwt.ExpiredSignatureError:
        raise TokenRefused(401, "token_expired", "the stream token expired: get a new one") \
            from None
    except jwt.InvalidTokenError:
        raise TokenRefused(401, "invalid_token", "not a stream token") from None
    row = TaskStreamToken.objects.select_related("user", "task").filter(pk=claims["tid"]).first()
    if row is None or row.expires_at <= timezone.now():
        raise TokenRefused(401, "invalid_token", "the stream token is no longer valid")
    if row.task_id != task.pk or claims.get("task") != task.pk:
        raise TokenRefused(403, "wrong_task", "this stream token is for another task")
    if not row.user.is_active or not organizations_for_user(row.user).filter(
            pk=task.organization_id).exists():
        raise TokenRefused(403, "permission_denied", "the token's user has no access to this "
                                                     "task any more")
    return row


def stream_tokens_ended(ids) -> set[int]:
    """Which of the token rows ``ids`` no longer open a stream (expired, user deactivated)."""
    ids = set(ids)
    alive = TaskStreamToken.objects.filter(id__in=ids, expires_at__gt=timezone.now(),
                                           user__is_active=True)
    return ids - set(alive.values_list("id", flat=True))


