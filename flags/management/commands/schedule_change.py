import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from flags.audit import Actor
from flags.models import ScheduledChangeType
from flags.scheduling import scheduled_change_create
from flags.selectors import flag_state_lookup
from flags.services import validation_error_fields


class Command(BaseCommand):
    help = "Schedule a change of a flag in one environment, applied once at the given time."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("environment")
        parser.add_argument("flag")
        parser.add_argument("change_type", choices=ScheduledChangeType.values)
        parser.add_argument("--at", required=True, metavar="ISO8601",
                            help="when, with a timezone, e.g. 2026-12-01T09:00:00+01:00")
        parser.add_argument("--payload", default="{}", metavar="JSON",
                            help='e.g. \'{"variant": "green"}\' or \'{"distribution": [...]}\'')
        parser.add_argument("--organization", help="organization slug, if the project key clashes")

    def handle(self, *args, project, environment, flag, change_type, at, payload, organization,
               **options):
        try:
            scheduled_at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError(f"--at: {at!r} is not an ISO 8601 time") from None
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"--payload: not JSON ({exc})") from None
        try:
            state = flag_state_lookup(project, environment, flag, organization)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        try:
            change = scheduled_change_create(state=state, scheduled_at=scheduled_at,
                                             change_type=change_type, payload=payload,
                                             actor=Actor.command("schedule_change"))
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(messages)}" for field, messages
                                         in validation_error_fields(exc).items())) from None
        self.stdout.write(f"scheduled change {change.pk}: {change_type} {flag} in "
                          f"{project}/{environment} at {change.scheduled_at.isoformat()}")
