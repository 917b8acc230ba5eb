"""Plain Django under daphne, as the django-eventstream documentation sets it up."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.fanout.baseline_settings")
application = get_asgi_application()
