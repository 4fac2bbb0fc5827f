import json

from django.core.management.base import BaseCommand, CommandError

from crm.exceptions import ApplicationError
from crm.services.workspaces import workspace_create


class Command(BaseCommand):
    help = (
        "Create a workspace, its owner and an all-scopes API key; print them as one JSON "
        'object: {"workspace": slug, "owner": email, "api_key": token}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The workspace's URL name (lowercase, digits, hyphens).")
        parser.add_argument("--name", required=True, help="The workspace's display name.")
        parser.add_argument("--owner-email", required=True, help="The owner's email address.")
        parser.add_argument(
            "--owner-password",
            default=None,
            help="Sets the owner's password if the user is new (else sign-in is by token only).",
        )

    def handle(self, *args, slug, name, owner_email, owner_password, **options):
        try:
            created = workspace_create(
                slug=slug, name=name, owner_email=owner_email, owner_password=owner_password
            )
        except ApplicationError as exc:
            raise CommandError(str(exc.detail)) from exc
        self.stdout.write(
            json.dumps(
                {
                    "workspace": created.workspace.slug,
                    "owner": created.owner.user.email,
                    "api_key": created.token,
                }
            )
        )
