"""Every password check — ``POST /api/auth/token``, the login page, the admin's login — goes
through Django's ``authenticate``; the first backend here refuses it while the username or the
client's address has too many recent failures (tenancy.rate_limits), and every failure
``authenticate`` reports is counted."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from .rate_limits import failure_count, failures_blocked, login_limits


def _limits(request, credentials: dict) -> list[tuple]:
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    return login_limits(address, credentials.get("username") or "")


class FailureLimitBackend:
    """Authenticates nobody: stops ``authenticate`` (PermissionDenied) for a blocked attempt,
    before any other backend checks the password."""

    def authenticate(self, request, username=None, **credentials):
        if failures_blocked(_limits(request, {"username": username})) is not None:
            raise PermissionDenied("too many failed attempts")
        return None  # no get_user: sessions are ModelBackend's (and force_login picks it)


@receiver(user_login_failed, dispatch_uid="tenancy-login-failures")
def _count_failure(sender, credentials, request=None, **kwargs):
    failure_count(_limits(request, credentials))
