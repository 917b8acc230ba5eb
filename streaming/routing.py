"""Which ASGI application answers what: every registered stream kind's path to the hub-backed
SSE server (or, through Pushpin, to a hold instruction), every registered WebSocket path to its
consumer, and everything else to Django."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from .grip import grip_signed
from .kinds import StreamRequest, registry
from .sse import send_json, serve, serve_grip


class StreamRouter:
    """Stream paths to the hub-backed handlers, everything else to Django.

    Requests that come through Pushpin (they carry ``Grip-Sig``) are answered with a GRIP hold
    instruction, or held here when Pushpin cannot hold them as they are; Pushpin's follow-ups
    (``es-meta``) go to Django, whose django-eventstream view answers them.
    """

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        kind = registry.for_path(scope["path"])
        if kind is None:
            await self.django_app(scope, receive, send)
            return
        if any(name == b"grip-sig" for name, _ in scope["headers"]):
            await self._from_pushpin(kind, scope, receive, send)
        else:
            await serve(kind, scope, receive, send)

    async def _from_pushpin(self, kind, scope, receive, send):
        request = StreamRequest(scope, kind.path_params(scope["path"]))
        if not grip_signed(request.headers):
            await send_json(send, 400, {"error": "bad_proxy_signature",
                                        "detail": "Grip-Sig did not verify against GRIP_URL"})
            return
        if "es-meta" in request.query:
            await self.django_app(scope, receive, send)  # Pushpin's follow-up: the library's view
        elif kind.grip_eligible(request):
            await serve_grip(kind, request, send)  # Pushpin will hold it
        else:
            await serve(kind, scope, receive, send)  # held here, through Pushpin


def application(django_app):
    return ProtocolTypeRouter({
        "http": StreamRouter(django_app),
        "websocket": URLRouter([path(route, consumer)
                                for route, consumer in registry.websockets]),
    })
