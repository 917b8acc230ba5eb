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
        if endpoint is None or self._for_pushpin(endpoint, scope):
            await self.django_app(scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    @staticmethod
    def _for_pushpin(endpoint, scope) -> bool:
        from urllib.parse import parse_qs

        from django.conf import settings

        from .grip import grip_capable

        if not settings.GRIP_URL or not any(n == b"grip-sig" for n, _ in scope["headers"]):
            return False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return grip_capable(endpoint.name, {k: v[0] for k, v in query.items()})


def application(django_app):
    from channels.routing import URLRouter
    from django.urls import path

    from .ws import FlagSocketConsumer

    return ProtocolTypeRouter({
        "http": StreamRouter(django_app),
        "websocket": URLRouter([path("ws", FlagSocketConsumer.as_asgi())]),
    })
