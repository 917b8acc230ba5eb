"""ASGI entry point.

HTTP goes to Django, except the long-lived SSE streams, which ``streaming.routing`` serves
directly (no thread or database connection per open stream) unless Pushpin proxies them (then
Django answers with GRIP instructions), and agent CLIs' ``POST /api/ingest``, which
``sessions_app.asgi`` serves without a thread per request, as ``analytics.asgi`` serves SDKs'
``POST /api/sdk/events`` and ``/api/sdk/track``. WebSocket ``/ws`` goes to the
channels consumer. Browsers on other origins may call the SDK API and OFREP (``config.cors``);
an address that keeps presenting refused credentials is turned away (``tenancy.credential_guard``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

django_asgi_app = get_asgi_application()

from analytics.asgi import with_sdk_ingest  # noqa: E402  (needs Django set up first)
from config.cors import with_cors  # noqa: E402
from sessions_app.asgi import with_ingest  # noqa: E402
from tenancy.credential_guard import with_credential_guard  # noqa: E402
from streaming.routing import application  # noqa: E402

application = with_cors(with_credential_guard(
    with_sdk_ingest(with_ingest(application(django_asgi_app)))))
