"""The flag streams of the SDK API, each an environment channel seen through an endpoint.

* ``GET /api/sdk/stream`` — ``put`` (the full configuration) first, then every change.
* ``GET /api/v1/events/stream`` — the changes only, optionally filtered by ``?flags=`` / ``?tags=``.
* ``GET /ofrep/v1/stream?token=`` — OFREP's ``refetchEvaluation`` notice on every change.
"""

from __future__ import annotations

import json
import time

from django_eventstream.utils import sse_encode_event

from flags.environment_config import environment_config_cached, environment_config_get
from flags.sdk_auth import NotCached, SDKAuthError
from flags.tokens import TokenError, sdk_stream_token_key

from .channelmanager import channel_manager
from .channels import environment_channel
from .hub import hub
from .sse import StreamDenied, StreamEndpoint, StreamPlan, StreamRequest


def _sdk_key(request: StreamRequest, cached_only: bool = False):
    try:
        return channel_manager.sdk_key_channel(request.header, request.query,
                                               cached_only=cached_only)[0]
    except SDKAuthError as exc:
        raise StreamDenied(exc.status, exc.code, exc.detail) from None


def _hub_current(channel: str) -> int:
    """The channel's last event as the hub dispatched it; NotCached if the hub does not follow it."""
    current = hub.last_ids.get(channel)
    if current is None:
        raise NotCached
    return current


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def flag_filter(flag_keys: set[str], tags: set[str]):
    """Accept events about any of ``flag_keys`` or any flag tagged with one of ``tags``."""
    if not flag_keys and not tags:
        return None

    def accepts(event) -> bool:
        payload = event.payload
        if payload.get("flagKey") in flag_keys:
            return True
        if tags and tags.intersection(payload.get("tags") or ()):
            return True
        return bool(flag_keys.intersection(payload.get("flags") or ()))  # segment changes

    return accepts


class SDKStream(StreamEndpoint):
    """``put`` with the whole configuration on connect, then one event per change."""

    name = "sdk"

    def authorize(self, request, cached_only=False):
        sdk_key = _sdk_key(request, cached_only)
        return StreamPlan(environment_channel(sdk_key.environment_id), key_id=sdk_key.pk,
                          context=sdk_key.environment)

    def open_stream_cached(self, request):
        if request.last_event_id() is not None:
            raise NotCached  # a replay reads storage
        plan = self.authorize(request, cached_only=True)
        config = environment_config_cached(plan.context.id, _hub_current(plan.channel))
        if config is None:
            raise NotCached
        return plan, [config.put_frame(plan.channel)], config.event_id

    def fresh_start(self, plan, current, frames, reset=False):
        # The configuration and the event id it is current at are read together.
        config = environment_config_get(plan.context)
        frames.append(config.put_frame(plan.channel))
        return frames, config.event_id


class EventsStream(StreamEndpoint):
    """The change events of the key's environment, optionally filtered."""

    name = "events"

    def authorize(self, request, cached_only=False):
        sdk_key = _sdk_key(request, cached_only)
        return StreamPlan(environment_channel(sdk_key.environment_id), key_id=sdk_key.pk,
                          accepts=flag_filter(_csv(request.query.get("flags")),
                                              _csv(request.query.get("tags"))))

    def open_stream_cached(self, request):
        if request.last_event_id() is not None:
            raise NotCached
        plan = self.authorize(request, cached_only=True)
        return plan, [], _hub_current(plan.channel)


def render_refetch(event) -> bytes:
    """OFREP event-stream notice: re-fetch the bulk evaluation."""
    data = {"type": "refetchEvaluation", "etag": f'"{event.id}"',
            "lastModified": int(time.time())}
    return sse_encode_event("message", json.dumps(data), event_id=event.sse_id).encode()


class OFREPStream(StreamEndpoint):
    """The ``eventStreams`` URL of OFREP bulk responses (authenticated by its stream token)."""

    name = "ofrep"

    def authorize(self, request):
        token = request.query.get("token")
        if not token:
            raise StreamDenied(401, "not_authenticated", "the stream token is missing")
        try:
            sdk_key = sdk_stream_token_key(token)
        except TokenError as exc:
            raise StreamDenied(401, "invalid_token", str(exc)) from None
        return StreamPlan(environment_channel(sdk_key.environment_id), key_id=sdk_key.pk,
                          render=render_refetch)

    def replay(self, plan, after, current, frames):
        # Any number of missed changes needs one re-fetch: send only the newest.
        events = super().replay(plan, after, current, [])[0]
        return (events[-1:] if events else []), current


sdk_stream = SDKStream()
events_stream = EventsStream()
ofrep_stream = OFREPStream()

STREAM_ROUTES = {
    "/api/sdk/stream": sdk_stream,
    "/api/v1/events/stream": events_stream,
    "/ofrep/v1/stream": ofrep_stream,
}
