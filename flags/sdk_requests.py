"""What every SDK endpoint does with a request, whatever its transport (REST, OFREP, WebSocket):
admit the environment key (authentication and the per-key rate limit), read the evaluation
context in either accepted shape, evaluate, and shape a result."""

from __future__ import annotations

from django.conf import settings

from .environment_config import environment_config_get
from .models import SDKKey
from tenancy.rate_limits import rate_limit_hit
from .sdk_auth import authenticate_sdk_request, raw_key_from


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


class SDKInputError(Exception):
    """A malformed request field: ``field`` names it, the message says what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def sdk_key_admit(header, query, *, scope: str = "sdk", require_server: bool = False,
                  per_minute: int | None = None) -> SDKKey:
    """The request's active environment key, counted against its rate limit for ``scope``
    (``per_minute``, SDK_RATE_LIMIT_PER_MINUTE by default; 0 = none).

    Raises ``SDKAuthError`` (401/403) or ``RateLimited`` (429).
    """
    sdk_key = authenticate_sdk_request(raw_key_from(header, query), require_server=require_server)
    return sdk_key_rate_counted(sdk_key, scope, per_minute)


def sdk_key_rate_counted(sdk_key: SDKKey, scope: str, per_minute: int | None = None) -> SDKKey:
    """Count a request of ``sdk_key`` against its limit for ``scope`` (``per_minute``,
    SDK_RATE_LIMIT_PER_MINUTE by default; 0 = none): ``RateLimited`` past it."""
    limit = settings.SDK_RATE_LIMIT_PER_MINUTE if per_minute is None else per_minute
    retry = rate_limit_hit(scope, sdk_key.pk, limit)
    if retry is not None:
        raise RateLimited(retry)
    return sdk_key


def evaluation_context(body: dict) -> dict:
    """The context of ``{"context": {...}}`` or ``{"entityID", "entityContext"}``."""
    if "entityID" in body or "entityContext" in body:
        entity_context = body.get("entityContext", {})
        if not isinstance(entity_context, dict):
            raise SDKInputError("entityContext", "must be an object")
        context = dict(entity_context)
        if body.get("entityID") is not None:
            context["targetingKey"] = str(body["entityID"])
        return context
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise SDKInputError("context", "must be an object")
    return context


def evaluator_for(sdk_key: SDKKey):
    """The compiled flags of the key's environment, current as of now."""
    return environment_config_get(sdk_key.environment).evaluator


def result_body(result) -> dict:
    """One evaluation as the SDK API and the WebSocket answer it."""
    data = {"flagKey": result.flag_key, "value": result.value, "variant": result.variant,
            "variantKey": result.variant, "reason": result.reason, "version": result.version}
    if result.error_code:
        data["errorCode"] = result.error_code
        data["errorMessage"] = result.error_message
    return data
