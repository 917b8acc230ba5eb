"""Streams held by Pushpin (GRIP).

With ``GRIP_URL`` set (one Pushpin, or several edges' URLs separated by commas: settings
``GRIP_URLS``), Pushpin forwards each new stream request (signed with ``Grip-Sig``) to
Flagstream, which answers once — the opening events (``put`` or a replay) and a hold
instruction — and Pushpin keeps the connection, receiving every later event from
``streaming.broadcast``. The opening is answered from the same raw ASGI path as direct streams (cached
authentication and ``put``, no Django request cycle: under ASGI that costs a thread and a
database connection per concurrent request). The instruction is the one django-eventstream's
GRIP view gives (same channel names, ids and signed ``es-meta`` next link), so Pushpin's
follow-ups (``link=next``, ``recover``) are answered by the library's own view. Added: the
configurable heartbeat instead of its fixed 20 s keep-alive, and a channel per credential
(``Credential.grip_channel``) on which a revocation closes the streams opened with it.

Several edges: every event and every close goes to each edge (:func:`grip_publish`), so a
stream gets the same whichever edge holds it; an edge that is down is logged and skipped, the
others still get it. A stream request is trusted when any edge's key signed it; follow-ups and
replays need nothing edge-specific (ids are the channel's, links are signed by this server).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from urllib.parse import quote, urlencode, urlsplit

import jwt
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django_eventstream.views import events
from gripcontrol import Channel, GripPubControl, create_grip_channel_header, parse_grip_uri, \
    validate_sig
from pubcontrol import Item

from .frames import revoked_frame
from .hub import revoked_credentials
from .kinds import Credential, registry


logger = logging.getLogger(__name__)


def edge_name(url: str) -> str:
    """An edge's publish URL without its key, for logs."""
    return urlsplit(url)._replace(query="").geturl()


@lru_cache(maxsize=4)
def _verify_keys(urls: tuple[str, ...]) -> tuple:
    keys = []
    for url in urls:
        parsed = parse_grip_uri(url)
        keys.append(parsed.get("verify_key") or parsed.get("key"))
    return tuple(keys)


@lru_cache(maxsize=4)
def _publishers(urls: tuple[str, ...]) -> tuple:
    """(edge name, publisher) for each edge: one each, so one edge's failure stops no other."""
    publishers = []
    for url in urls:
        publisher = GripPubControl()
        publisher.apply_grip_config([parse_grip_uri(url)])
        publishers.append((edge_name(url), publisher))
    return tuple(publishers)


def grip_signed(headers: dict) -> bool:
    """Whether the request carries a valid ``Grip-Sig`` from one of the configured edges."""
    signature = headers.get("grip-sig")
    return bool(signature and settings.GRIP_URLS) and any(
        validate_sig(signature, key) for key in _verify_keys(tuple(settings.GRIP_URLS)))


def grip_publish(channel: str, formats, *, item_id: str | None = None,
                 prev_id: str | None = None) -> int:
    """Publish one item on ``channel`` to every edge, each in turn (waiting for its answer,
    so each edge gets a channel's items in order); the number of edges it reached."""
    item = Item(formats, id=item_id, prev_id=prev_id)
    reached = 0
    for name, publisher in _publishers(tuple(settings.GRIP_URLS)):
        try:
            publisher.publish(channel, item, blocking=True)
            reached += 1
        except Exception:  # noqa: BLE001 - the other edges must still get it
            logger.exception("could not publish on %s to the Pushpin edge %s", channel, name)
    return reached


def event_channel(channel: str) -> str:
    """The GRIP channel a stream of ``channel`` is held on (django-eventstream's naming)."""
    return f"events-{quote(channel)}"


def hold_headers(path: str, channel: str, last_id: int, credential: Credential | None) -> list:
    """The GRIP instruction for a stream of ``channel`` whose client is current at ``last_id``."""
    grip_channel = event_channel(channel)
    subscription = Channel(grip_channel, prev_id=str(last_id))
    subscription.filters.append("build-id")  # %I in published events becomes the client's id
    channels = [subscription]
    if credential is not None:
        channels.append(Channel(credential.grip_channel))
    es_meta = jwt.encode({"iss": "es", "exp": int(time.time()) + 3600, "channels": [channel],
                          "user": "anonymous"}, settings.SECRET_KEY.encode())
    params = {"link": "next", "recover": "true", "es-meta": es_meta}
    if credential is not None:
        # Pushpin's follow-ups re-subscribe the connection: they must keep the credential's
        # channel. Only Pushpin sees this link, and follow-ups must carry a valid Grip-Sig.
        params["credential"] = str(credential)
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
    """Pushpin's next-link and recover requests, answered by django-eventstream's GRIP view
    (routed on the path of each kind Pushpin may hold: see streaming.urls)."""
    if not getattr(request, "grip", None) or not request.grip.proxied:
        return JsonResponse({"error": "bad_proxy_signature",
                             "detail": "Grip-Sig did not verify against GRIP_URL"}, status=400)
    if not request.GET.get("es-meta"):
        return JsonResponse({"error": "bad_request",
                             "detail": "streams are opened through streaming.routing"},
                            status=400)
    credential = Credential.parse(request.GET.get("credential", ""))
    if request.GET.get("credential") and (credential is None or revoked_credentials([credential])):
        # Revoked or expired while Pushpin held the stream: end it here.
        return HttpResponse(revoked_frame(registry.revoked_text(credential)),
                            content_type="text/event-stream")
    response = events(request)
    if request.grip.instruct is not None:
        request.grip.instruct.set_keep_alive(":\n", settings.STREAM_HEARTBEAT_SECONDS)
        if credential is not None:
            request.grip.instruct.add_channel(Channel(credential.grip_channel))
    return response
