import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from companies.bridge import Bridge, url_shown


class Command(BaseCommand):
    help = ("Bring company updates published to NATS (JetStream) into the company streams: "
            "a durable consumer on NATS_SUBJECTS, subjects mapped to event types by "
            "NATS_EVENT_TYPES. Runs until SIGTERM/SIGINT. See docs/companies.md.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="NATS server URL (default: NATS_URL)")
        parser.add_argument("--stream", default=None,
                            help=f"JetStream stream (default: {settings.NATS_STREAM})")
        parser.add_argument("--durable", default=None,
                            help=f"durable consumer name (default: {settings.NATS_DURABLE})")
        parser.add_argument("--subjects", default=None,
                            help="comma-separated subjects (default: NATS_SUBJECTS, "
                                 f"{','.join(settings.NATS_SUBJECTS)})")
        parser.add_argument("--batch", type=int, default=None,
                            help=f"messages per batch (default: {settings.NATS_BATCH})")

    def handle(self, *args, url, stream, durable, subjects, batch, **options):
        url = url or settings.NATS_URL
        if not url:
            raise CommandError(
                "NATS_URL is not set. Point it at your NATS server (JetStream enabled), e.g.\n"
                "  NATS_URL=nats://127.0.0.1:4222 python manage.py nats_bridge\n"
                "or pass --url. Without NATS, publish over HTTP: POST /stream/publish.")
        if batch is not None and not 1 <= batch <= 10_000:
            raise CommandError("--batch must be between 1 and 10000")
        bridge = Bridge(url=url, stream=stream, durable=durable,
                        subjects=[s.strip() for s in subjects.split(",") if s.strip()]
                        if subjects else None, batch=batch,
                        out=lambda line: self.stdout.write(line))
        self.stdout.write(f"NATS bridge: connecting to {url_shown(url)} (Ctrl-C to stop)")
        asyncio.run(bridge.run())
