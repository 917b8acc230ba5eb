"""Streams held by Pushpin (GRIP), through django-eventstream's own GRIP view.

With ``GRIP_URL`` set, requests that Pushpin forwards (signed with ``Grip-Sig``) for the SDK
stream and the unfiltered events stream are answered here: django-eventstream replies with the
events to replay and a hold instruction, then Pushpin keeps the connection and receives every
later event from ``send_event``. This wrapper adds what the library lacks: the SDK stream's
``put``, the configurable heartbeat instead of the fixed 20 s keep-alive, and a per-key channel
on which a revocation closes the key's Pushpin-held streams.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django_eventstream.utils import parse_last_event_id
from django_eventstream.views import events
from gripcontrol import Channel

from flags.environment_config import environment_config_get
from flags.sdk_auth import SDKAuthError

from .channelmanager import channel_manager


def key_grip_channel(key_id: int) -> str:
    return f"sdkkey-{key_id}"


def _adjust_instruct(request, key_id: int | None) -> None:
    instruct = request.grip.instruct
    if instruct is None:
        return
    instruct.set_keep_alive(":\n", settings.STREAM_HEARTBEAT_SECONDS)
    if key_id is not None:
        instruct.add_channel(Channel(key_grip_channel(key_id)))


def _stream(request, *, with_put: bool):
    if not getattr(request, "grip", None) or not request.grip.proxied:
        return JsonResponse({"error": "bad_proxy_signature",
                             "detail": "Grip-Sig did not verify against GRIP_URL"}, status=400)
    if request.GET.get("es-meta"):
        # Pushpin following our next link: channels are in the signed es-meta.
        response = events(request)
        _adjust_instruct(request, None)
        return response
    try:
        sdk_key, channel = channel_manager.sdk_key_channel(request.headers.get, request.GET)
    except SDKAuthError as exc:
        return JsonResponse({"error": exc.code, "detail": exc.detail}, status=exc.status)
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId")
    resuming = bool(last_event_id)
    if resuming:
        try:
            parse_last_event_id(last_event_id)
        except ValueError:
            return JsonResponse({"error": "bad_last_event_id",
                                 "detail": "Last-Event-ID must be an id this stream sent"},
                                status=400)
    put = environment_config_get(sdk_key.environment).put_frame(channel) if with_put else None
    response = events(request, channels=[channel])
    if response.status_code == 200 and put is not None:
        reset = b"event: stream-reset" in response.content
        if reset or not resuming:
            response.content = response.content + put
    _adjust_instruct(request, sdk_key.pk)
    return response


def sdk_stream(request):
    return _stream(request, with_put=True)


def events_stream(request):
    return _stream(request, with_put=False)


def grip_capable(endpoint_name: str, query: dict) -> bool:
    """Whether Pushpin can hold this stream: it fans one channel out unchanged, so streams
    that filter (``?flags=``/``?tags=``) or re-render (OFREP) stay with the origin."""
    if endpoint_name == "sdk":
        return True
    if endpoint_name == "events":
        return not query.get("flags") and not query.get("tags")
    return False
