"""Who performs an action: a member, an API key, or Causerie itself.

Services take an ``Actor`` so that the audit log, the event log and message authorship
record the same identity whichever interface (REST, websocket, task, command) acted.
"""

from dataclasses import dataclass, field

from .models import ApiKey, Membership, Workspace
from .scopes import ALL_SCOPES


@dataclass(frozen=True)
class Actor:
    """The authenticated principal acting inside one workspace."""

    workspace: Workspace
    kind: str  # "member" | "api_key" | "system"
    id: str
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    membership: Membership | None = None
    api_key: ApiKey | None = None
    # The client address of the request that acted, for the audit log.
    ip_address: str | None = None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @classmethod
    def for_member(cls, membership: Membership) -> "Actor":
        user = membership.user
        return cls(
            workspace=membership.workspace,
            kind="member",
            id=str(membership.pk),
            name=user.name or user.email,
            scopes=membership.scopes,
            membership=membership,
        )

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> "Actor":
        return cls(
            workspace=api_key.workspace,
            kind="api_key",
            id=str(api_key.pk),
            name=api_key.name,
            scopes=frozenset(api_key.scopes),
            api_key=api_key,
        )

    @classmethod
    def system(cls, workspace: Workspace) -> "Actor":
        return cls(
            workspace=workspace,
            kind="system",
            id="",
            name="Causerie",
            scopes=frozenset(ALL_SCOPES),
        )
