from django.core.management.base import BaseCommand, CommandError

from crm.actors import Actor
from crm.models import Membership, Workspace
from integrations.demo import DEMO_ACCOUNTS
from integrations.models import BrandAccount
from integrations.services.brand_accounts import brand_account_create


class Command(BaseCommand):
    help = "Connect the demo brand accounts (played by the emulator) to a workspace."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="demo")

    def handle(self, *args, workspace, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"No workspace {workspace!r}; run demo_workspace first.")
        owner = (
            Membership.objects.select_related("user", "workspace")
            .filter(workspace=ws, role="owner")
            .first()
        )
        actor = Actor.for_member(owner)
        for platform, (name, external_id, credentials) in DEMO_ACCOUNTS.items():
            if BrandAccount.objects.filter(
                workspace=ws, platform=platform, external_id=external_id
            ).exists():
                continue
            brand_account_create(
                actor=actor,
                platform=platform,
                name=name,
                external_id=external_id,
                credentials=credentials,
                # The emulated platforms hold no history for the demo accounts.
                backfill=False,
            )
            self.stdout.write(f"connected {platform}: {name}")
