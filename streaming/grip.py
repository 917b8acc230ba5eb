"""Streams held by Pushpin (GRIP).

With ``GRIP_URL`` set, Pushpin forwards each new stream request (signed with ``Grip-Sig``) to
Flagstream, which answers once — the opening events (``put`` or a replay) and a hold
instruction — and Pushpin keeps the connection, receiving every later event from
``send_event``. The opening is answered from the same raw ASGI path as direct streams (cached
authentication and ``put``, no Django request cycle: under ASGI that costs a thread and a
database connection per concurrent request). The instruction is the one django-eventstream's
GRIP view gives (same channel names, ids and signed ``es-meta`` next link), so Pushpin's
follow-ups (``link=next``, ``recover``) are answered by the library's own view. Added: the
configurable heartbeat instead of its fixed 20 s keep-alive, and a per-key channel on which a
revocation closes the key's streams.
"""

from __future__ import annotations

import time
from functools import lru_cache
from urllib.parse import quote, urlencode

import jwt
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django_eventstream.views import events
from gripcontrol import Channel, create_grip_channel_header, parse_grip_uri, validate_sig

from .sse import sse_frame


def key_grip_channel(key_id: int) -> str:
    return f"sdkkey-{key_id}"


@lru_cache(maxsize=4)
def _verify_key(grip_url: str):
    parsed = parse_grip_uri(grip_url)
    return parsed.get("verify_key") or parsed.get("key")


def grip_signed(headers: dict) -> bool:
    """Whether the request carries a valid ``Grip-Sig`` from the configured Pushpin."""
    signature = headers.get("grip-sig")
    return bool(signature and settings.GRIP_URL
                and validate_sig(signature, _verify_key(settings.GRIP_URL)))


def grip_capable(endpoint_name: str, query: dict) -> bool:
    """Whether Pushpin can hold this stream: it fans one channel out unchanged, so streams
    that filter (``?flags=``/``?tags=``) or re-render (OFREP) stay with the origin."""
    if endpoint_name == "sdk":
        return True
    if endpoint_name == "events":
        return not query.get("flags") and not query.get("tags")
    return False


def hold_headers(path: str, channel: str, last_id: int, key_id: int | None) -> list:
    """The GRIP instruction for a stream of ``channel`` whose client is current at ``last_id``."""
    grip_channel = f"events-{quote(channel)}"
    subscription = Channel(grip_channel, prev_id=str(last_id))
    subscription.filters.append("build-id")  # %I in published events becomes the client's id
    channels = [subscription]
    if key_id is not None:
        channels.append(Channel(key_grip_channel(key_id)))
    es_meta = jwt.encode({"iss": "es", "exp": int(time.time()) + 3600, "channels": [channel],
                          "user": "anonymous"}, settings.SECRET_KEY.encode())
    params = {"link": "next", "recover": "true", "es-meta": es_meta}
    if key_id is not None:
        # Pushpin's follow-ups re-subscribe the connection: they must keep the key's channel.
        # Only Pushpin sees this link, and follow-ups must carry a valid Grip-Sig.
        params["sdkkey"] = str(key_id)
    next_link = f"{path}?{urlencode(params)}"
    heartbeat = ":\\n"  # one comment line, cstring-encoded
    id_format = f"{quote(channel).replace('%', '%%')}:%({grip_channel})s"
    return [
        (b"grip-hold", b"stream"),
        (b"grip-channel", create_grip_channel_header(channels).encode()),
        (b"grip-keep-alive",
         f"{heartbeat}; format=cstring; timeout={settings.STREAM_HEARTBEAT_SECONDS}".encode()),
        (b"grip-set-meta", f'id_format="{id_format}", user="anonymous"'.encode()),
        (b"grip-link", f"<{next_link}>; rel=next".encode()),
    ]


def grip_follow_up(request):
    """Pushpin's next-link and recover requests, answered by django-eventstream's GRIP view."""
    if not getattr(request, "grip", None) or not request.grip.proxied:
        return JsonResponse({"error": "bad_proxy_signature",
                             "detail": "Grip-Sig did not verify against GRIP_URL"}, status=400)
    if not request.GET.get("es-meta"):
        return JsonResponse({"error": "bad_request",
                             "detail": "streams are opened through streaming.routing"},
                            status=400)
    key_id = request.GET.get("sdkkey")
    if key_id and not _key_active(key_id):
        # The key was revoked or expired while Pushpin held the stream: end it here.
        return HttpResponse(sse_frame("stream-error", {
            "condition": "unauthorized", "text": "the key of this stream was revoked"}, "error"),
            content_type="text/event-stream")
    response = events(request)
    if request.grip.instruct is not None:
        request.grip.instruct.set_keep_alive(":\n", settings.STREAM_HEARTBEAT_SECONDS)
        if key_id:
            request.grip.instruct.add_channel(Channel(key_grip_channel(int(key_id))))
    return response


def _key_active(key_id: str) -> bool:
    from flags.models import SDKKey

    try:
        sdk_key = SDKKey.objects.filter(pk=int(key_id)).first()
    except ValueError:
        return False
    return sdk_key is not None and sdk_key.is_active()
