"""The management API's request budget: API_RATE_LIMIT_PER_MINUTE requests a minute per user
(login token or staff session), in the cache that the other limits use (tenancy.rate_limits).
Anonymous requests are not counted here: they get their 401, and an address presenting refused
credentials is turned away by tenancy.credential_guard."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from tenancy.rate_limits import rate_limit_hit


class PerUserThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        self.retry_after = rate_limit_hit("api-user", user.pk, settings.API_RATE_LIMIT_PER_MINUTE)
        return self.retry_after is None

    def wait(self) -> int | None:
        return getattr(self, "retry_after", None)
