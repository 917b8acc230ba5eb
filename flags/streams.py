"""The flags app's stream kinds, each an environment channel seen through an endpoint.

* ``GET /api/sdk/stream`` — ``put`` (the full configuration) first, then every change.
* ``GET /api/v1/events/stream`` — the changes only, optionally filtered by ``?flags=`` / ``?tags=``.
* ``GET /ofrep/v1/stream?token=`` — OFREP's ``refetchEvaluation`` notice on every change.

All three are opened with an environment key (the OFREP one through a stream token standing
for it) and close when the key is revoked or its rotation grace ends. Registered in
``FlagsConfig.ready()``.
"""

from __future__ import annotations

import json
import time

from django_eventstream.utils import sse_encode_event

from streaming.kinds import CredentialKind, NotCached, StreamDenied, StreamKind, StreamPlan

from .channels import ENVIRONMENT_PREFIX, SDK_KEY_CREDENTIAL, environment_channel
from .environment_config import environment_config_cached, environment_config_get
from .models import SDKKey
from .sdk_auth import SDKAuthError, authenticate_sdk_stream, raw_key_from
from .tokens import TokenError, sdk_stream_token_key


class SDKKeyCredential(CredentialKind):
    """Environment keys: revoked, or past the grace period of a rotation."""

    name = SDK_KEY_CREDENTIAL
    revoked_text = "the key of this stream was revoked"

    def revoked(self, ids) -> set[int]:
        return SDKKey.inactive_ids(ids)


sdk_key_credential_kind = SDKKeyCredential()


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def concerns(payload: dict, flag_keys: set[str], tags: set[str]) -> bool:
    """Whether a change event is about one of ``flag_keys``, a flag tagged with one of
    ``tags``, or a segment that one of ``flag_keys`` uses."""
    if payload.get("flagKey") in flag_keys:
        return True
    if tags and tags.intersection(payload.get("tags") or ()):
        return True
    return bool(flag_keys.intersection(payload.get("flags") or ()))  # segment changes


def flag_filter(flag_keys: set[str], tags: set[str]):
    """The ``?flags=``/``?tags=`` filter of a stream; None (everything) when both are empty."""
    if not flag_keys and not tags:
        return None

    def accepts(event) -> bool:
        return concerns(event.payload, flag_keys, tags)

    return accepts


class EnvironmentKeyStream(StreamKind):
    """A stream of the environment channel the presented key belongs to."""

    channel_prefix = ENVIRONMENT_PREFIX
    openapi_security = ("sdkKey", "sdkKeyHeader", "sdkClientKeyQuery")

    def sdk_key(self, request, cached_only: bool):
        try:
            return authenticate_sdk_stream(raw_key_from(request.header, request.query),
                                           cached_only=cached_only)
        except SDKAuthError as exc:
            raise StreamDenied(exc.status, exc.code, exc.detail) from None

    def plan(self, sdk_key, **extra) -> StreamPlan:
        return StreamPlan(environment_channel(sdk_key.environment_id),
                          credential=sdk_key_credential_kind.credential(sdk_key.pk), **extra)


class SDKStream(EnvironmentKeyStream):
    """``put`` with the whole configuration on connect (and after a reset), then each change."""

    name = "sdk"
    path = "/api/sdk/stream"
    pushpin = True

    def authorize(self, request, *, cached_only=False):
        sdk_key = self.sdk_key(request, cached_only)
        return self.plan(sdk_key, context=sdk_key.environment)

    def opening(self, plan):
        # The configuration and the event id it is current at are read together.
        config = environment_config_get(plan.context)
        return [config.put_frame(plan.channel)], config.event_id

    def opening_cached(self, plan, current):
        config = environment_config_cached(plan.context.id, current)
        if config is None:
            raise NotCached
        return [config.put_frame(plan.channel)], config.event_id


class EventsStream(EnvironmentKeyStream):
    """The change events of the key's environment, optionally filtered."""

    name = "events"
    path = "/api/v1/events/stream"
    pushpin = True
    openapi_query = {"flags": "comma-separated flag keys to keep",
                     "tags": "comma-separated tags whose flags to keep"}

    def authorize(self, request, *, cached_only=False):
        return self.plan(self.sdk_key(request, cached_only),
                         accepts=flag_filter(_csv(request.query.get("flags")),
                                             _csv(request.query.get("tags"))))

    def grip_eligible(self, request):
        # Pushpin fans the channel out unchanged: a filtered stream stays with the origin.
        return not request.query.get("flags") and not request.query.get("tags")


def render_refetch(event) -> bytes:
    """OFREP event-stream notice: re-fetch the bulk evaluation."""
    data = {"type": "refetchEvaluation", "etag": f'"{event.id}"',
            "lastModified": int(time.time())}
    return sse_encode_event("message", json.dumps(data), event_id=event.sse_id).encode()


class OFREPStream(EnvironmentKeyStream):
    """The ``eventStreams`` URL of OFREP bulk responses (authenticated by its stream token).
    Any number of missed changes needs one re-fetch, so replay sends only the newest."""

    name = "ofrep"
    path = "/ofrep/v1/stream"
    latest_only = True
    openapi_security = ()
    openapi_query = {"token": "the stream token of an OFREP bulk response's eventStreams URL"}
    render = staticmethod(render_refetch)

    def authorize(self, request, *, cached_only=False):
        if cached_only:
            raise NotCached  # the token's key is looked up every time
        token = request.query.get("token")
        if not token:
            raise StreamDenied(401, "not_authenticated", "the stream token is missing")
        try:
            sdk_key = sdk_stream_token_key(token)
        except TokenError as exc:
            raise StreamDenied(401, "invalid_token", str(exc)) from None
        return self.plan(sdk_key)


STREAM_KINDS = (SDKStream(), EventsStream(), OFREPStream())
