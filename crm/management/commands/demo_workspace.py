from django.core.management.base import BaseCommand
from django.db import transaction

from conversations.services.library import canned_response_create, label_create
from crm import scopes
from crm.actors import Actor
from crm.models import ApiKey, Membership, Workspace
from crm.services.workspaces import api_key_create, api_key_revoke, member_add, workspace_create

DEMO_SLUG = "demo"
DEMO_OWNER = "owner@demo.causerie.test"
# A second member, to watch presence in the console from a second browser.
DEMO_AGENT = "agent@demo.causerie.test"
DEMO_PASSWORD = "causerie-demo"
DEMO_KEY_NAME = "Demo key (make run)"


class Command(BaseCommand):
    help = (
        "Create the demo workspace if it does not exist, issue a fresh demo API key "
        "(revoking the previous one) and print how to use it."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
            if workspace is None:
                created = workspace_create(
                    slug=DEMO_SLUG,
                    name="Demo brand",
                    owner_email=DEMO_OWNER,
                    owner_password=DEMO_PASSWORD,
                )
                workspace = created.workspace
                _demo_inbox_setup(created.owner)
            owner = Membership.objects.select_related("user", "workspace").get(
                workspace=workspace, user__email=DEMO_OWNER
            )
            actor = Actor.for_member(owner)
            for old in ApiKey.objects.filter(
                workspace=workspace, name=DEMO_KEY_NAME, revoked_at__isnull=True
            ):
                api_key_revoke(actor=actor, api_key=old)
            token = api_key_create(
                actor=actor, name=DEMO_KEY_NAME, key_scopes=scopes.ALL_SCOPES, expires_at=None
            ).token
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Causerie demo workspace",
                    f"  workspace : {DEMO_SLUG}",
                    f"  owner     : {DEMO_OWNER} / {DEMO_PASSWORD}",
                    f"  agent     : {DEMO_AGENT} / {DEMO_PASSWORD}",
                    f"  API key   : {token}",
                    "",
                    "Try it:",
                    f"  curl -H 'Authorization: Bearer {token}' "
                    f"http://127.0.0.1:8000/api/v1/workspaces/{DEMO_SLUG}/members/",
                    "  API docs: http://127.0.0.1:8000/api/v1/docs/",
                    "  Agent console: http://127.0.0.1:8000/console/ (sign in as the owner or "
                    "the agent)",
                    "",
                ]
            )
        )


def _demo_inbox_setup(owner: Membership) -> None:
    """Names for the members, a second member, labels and a canned response, so that the
    console has something to show besides the emulator's traffic."""
    owner.user.name = "Demo Owner"
    owner.user.save(update_fields=["name"])
    actor = Actor.for_member(owner)
    member_add(
        actor=actor, email=DEMO_AGENT, role="agent", name="Demo Agent", password=DEMO_PASSWORD
    )
    for name in ("Delivery", "Returns", "Sales"):
        label_create(actor=actor, name=name)
    canned_response_create(
        actor=actor,
        name="Greeting",
        text="Hello {{contact.name}}, {{agent.name}} here. Let me look into it for you.",
    )
