"""Which ASGI application answers what."""

from channels.routing import ProtocolTypeRouter


class StreamRouter:
    """SSE stream paths to the hub-backed handlers, everything else to Django.

    Requests that come through Pushpin (they carry ``Grip-Sig``) go to Django, whose
    django-eventstream views answer them with GRIP hold instructions.
    """

    def __init__(self, django_app):
        from .flag_streams import STREAM_ROUTES

        self.django_app = django_app
        self.routes = STREAM_ROUTES

    async def __call__(self, scope, receive, send):
        endpoint = self.routes.get(scope["path"].rstrip("/"))
        if endpoint is None:
            await self.django_app(scope, receive, send)
            return
        if any(name == b"grip-sig" for name, _ in scope["headers"]):
            await self._from_pushpin(endpoint, scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    async def _from_pushpin(self, endpoint, scope, receive, send):
        from urllib.parse import parse_qs

        from .grip import grip_capable, grip_signed
        from .sse import StreamRequest, send_json

        request = StreamRequest(scope)
        if not grip_signed(request.headers):
            await send_json(send, 400, {"error": "bad_proxy_signature",
                                        "detail": "Grip-Sig did not verify against GRIP_URL"})
            return
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        if "es-meta" in query:
            await self.django_app(scope, receive, send)  # Pushpin's follow-up: the library's view
        elif grip_capable(endpoint.name, query):
            await endpoint.serve_grip(request, send)  # Pushpin will hold it
        else:
            await endpoint(scope, receive, send)  # held here, through Pushpin


def application(django_app):
    from channels.routing import URLRouter
    from django.urls import path

    from .ws import FlagSocketConsumer

    return ProtocolTypeRouter({
        "http": StreamRouter(django_app),
        "websocket": URLRouter([path("ws", FlagSocketConsumer.as_asgi())]),
    })
