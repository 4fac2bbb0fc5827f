"""Small workspaces of their own for the benchmarks that run live traffic (fan-out, sends).

Built through the product's services, apart from the generated dataset, so that what one
benchmark does (hundreds of members, replies) never shows in another's figures.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any


@dataclass
class LiveWorkspace:
    slug: str
    workspace: Any
    members: list
    account: Any
    conversation_ids: list[str]
    # A personal token of the first member: the REST calls of the benchmark.
    token: str


def live_workspace(
    slug: str,
    *,
    agents: int,
    conversations: int = 1,
    team_only: bool = False,
    credentials: dict[str, Any] | None = None,
) -> LiveWorkspace:
    """A workspace of ``agents`` agents, one Facebook page and ``conversations`` open
    conversations with a customer message just received (reply window open).

    With ``team_only``, agents see only their team's conversations; all the agents are in
    the team of every conversation.
    """
    from contacts.models import Contact, Identity
    from conversations.services.messages import message_ingest_inbound
    from crm.actors import Actor
    from crm.models import Team
    from crm.services.workspaces import member_add, personal_token_create, workspace_create
    from integrations.models import BrandAccount

    created = workspace_create(slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test")
    workspace = created.workspace
    if team_only:
        workspace.agents_see_only_their_teams = True
        workspace.save(update_fields=["agents_see_only_their_teams"])
    owner = Actor.for_member(created.owner)
    members = [
        member_add(actor=owner, email=f"agent{i}@{slug}.test", role="agent") for i in range(agents)
    ]
    team = Team.objects.create(workspace=workspace, name="Everyone")
    team.members.set(members)
    account = BrandAccount.objects.create(
        workspace=workspace,
        platform="facebook",
        name=f"{slug} page",
        external_id=str(zlib.crc32(slug.encode())),
        credentials=credentials or {"page_access_token": f"{slug}-token"},
    )
    conversation_ids = []
    for n in range(conversations):
        contact = Contact.objects.create(workspace=workspace, name=f"Camille Client {n}")
        psid = str(7_000_000 + n)
        Identity.objects.create(
            workspace=workspace,
            contact=contact,
            platform="facebook",
            external_id=psid,
            brand_account=account,
        )
        conversation = message_ingest_inbound(
            brand_account=account,
            thread_key=f"{account.external_id}:{psid}",
            contact=contact,
            external_id=f"m-{slug}-{n}",
            text="Bonjour, ma commande n'est pas arrivée.",
            team=team,
        ).conversation
        conversation_ids.append(str(conversation.pk))
    _, token = personal_token_create(user=members[0].user, name=f"{slug} bench")
    return LiveWorkspace(slug, workspace, members, account, conversation_ids, token)
