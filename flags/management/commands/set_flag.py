from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from flags.audit import Actor
from flags.selectors import flag_state_lookup
from flags.services import flag_state_update, validation_error_fields


class Command(BaseCommand):
    help = "Turn a flag on or off, or set its default variant, in one environment."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("environment")
        parser.add_argument("flag")
        change = parser.add_mutually_exclusive_group(required=True)
        change.add_argument("--on", action="store_true", help="turn the flag on")
        change.add_argument("--off", action="store_true", help="turn the flag off")
        change.add_argument("--default-variant", metavar="KEY",
                            help="serve this variant when no rule matches")
        parser.add_argument("--organization", help="organization slug, if the project key clashes")

    def handle(self, *args, project, environment, flag, on, off, default_variant, organization,
               **options):
        try:
            state = flag_state_lookup(project, environment, flag, organization)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        change = ({"enabled": True} if on else {"enabled": False} if off
                  else {"default_rule": {"variant": default_variant}})
        try:
            state = flag_state_update(state=state, actor=Actor.command("set_flag"), **change)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(messages)}" for field, messages
                                         in validation_error_fields(exc).items())) from None
        self.stdout.write(f"{flag} in {project}/{environment}: "
                          f"{'on' if state.enabled else 'off'}, default "
                          f"{state.default_rule}, version {state.version}")
