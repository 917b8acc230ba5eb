from django.core.management.base import BaseCommand

from flags.audit import Actor
from flags.demo import demo_bootstrap


class Command(BaseCommand):
    help = "Create the demo organization, project, environments, flags, keys and staff login."

    def handle(self, *args, **options):
        info = demo_bootstrap(actor=Actor.command("bootstrap_demo"))
        created = ", ".join(info.created) if info.created else "nothing new (already there)"
        self.stdout.write(f"Demo data: created {created}.")
        password = info.password or "(unchanged; set it with manage.py changepassword admin)"
        self.stdout.write(f"Staff login:  {info.username} / {password}")
        for environment, keys in info.keys.items():
            for kind, raw_key in keys.items():
                self.stdout.write(f"SDK key {environment:<12} {kind:<6} {raw_key}")
        self.stdout.write(f"API key (agent CLIs: ingest, upload, read)  {info.api_key}")
