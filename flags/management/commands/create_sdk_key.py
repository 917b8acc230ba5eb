from django.core.management.base import BaseCommand, CommandError

from flags.audit import Actor
from flags.models import Environment, SDKKeyKind
from flags.services import sdk_key_create


class Command(BaseCommand):
    help = "Create an SDK key for an environment and print only the key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project key")
        parser.add_argument("environment", help="environment key")
        parser.add_argument("--client", action="store_true",
                            help="a read-only client key (cli-…) instead of a server key")
        parser.add_argument("--organization", help="organization slug, if the project key clashes")
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args, project, environment, client, organization, name, **options):
        environments = Environment.objects.filter(project__key=project, key=environment)
        if organization:
            environments = environments.filter(project__organization__slug=organization)
        matches = list(environments.select_related("project__organization")[:2])
        if not matches:
            raise CommandError(f"no environment {environment!r} in a project {project!r}")
        if len(matches) > 1:
            raise CommandError(f"project {project!r} exists in several organizations; "
                               "pass --organization")
        kind = SDKKeyKind.CLIENT if client else SDKKeyKind.SERVER
        _, raw_key = sdk_key_create(environment=matches[0], kind=kind, name=name,
                                    actor=Actor.command("create_sdk_key"))
        self.stdout.write(raw_key)
