from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenancy.models import APIKeyScope, Organization
from tenancy.services import api_key_create


class Command(BaseCommand):
    help = ("Create an organization API key (ap_live_…) with scopes and print only the key "
            "(shown once; only its hash is stored).")

    def add_arguments(self, parser):
        parser.add_argument("organization", help="organization slug")
        parser.add_argument("--scope", action="append", dest="scopes", required=True,
                            choices=APIKeyScope.values,
                            help="repeat for several, e.g. --scope ingest --scope read")
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args, organization, scopes, name, **options):
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(f"no organization {organization!r}")
        try:
            _, raw_key = api_key_create(organization=found, scopes=scopes, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(raw_key)
