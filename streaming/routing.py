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
        if endpoint is not None and not any(name == b"grip-sig" for name, _ in scope["headers"]):
            await endpoint(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


def application(django_app):
    from channels.routing import URLRouter
    from django.urls import path

    from .ws import FlagSocketConsumer

    return ProtocolTypeRouter({
        "http": StreamRouter(django_app),
        "websocket": URLRouter([path("ws", FlagSocketConsumer.as_asgi())]),
    })
