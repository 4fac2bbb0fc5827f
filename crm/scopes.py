"""Credential scopes and what each member role may do.

One vocabulary serves API keys (granted scopes explicitly) and members (scopes follow from
their role), so every endpoint states one required scope per method and both kinds of
credential are checked the same way.
"""

CONTACTS_READ = "contacts:read"
CONTACTS_WRITE = "contacts:write"
CONVERSATIONS_READ = "conversations:read"
CONVERSATIONS_WRITE = "conversations:write"
MESSAGES_SEND = "messages:send"
WEBHOOKS_MANAGE = "webhooks:manage"
ADMIN = "admin"

ALL_SCOPES: tuple[str, ...] = (
    CONTACTS_READ,
    CONTACTS_WRITE,
    CONVERSATIONS_READ,
    CONVERSATIONS_WRITE,
    MESSAGES_SEND,
    WEBHOOKS_MANAGE,
    ADMIN,
)

SCOPE_DESCRIPTIONS: dict[str, str] = {
    CONTACTS_READ: "Read contacts, identities, notes and timelines.",
    CONTACTS_WRITE: "Create, change, merge, import and erase contacts.",
    CONVERSATIONS_READ: "Read conversations, messages and the event log.",
    CONVERSATIONS_WRITE: "Change conversations: status, assignee, labels, priority.",
    MESSAGES_SEND: "Send replies and write private notes.",
    WEBHOOKS_MANAGE: "Manage outbound webhook subscriptions.",
    ADMIN: "Manage the workspace: members, teams, API keys, brand accounts, audit log.",
}

ROLE_OWNER = "owner"
ROLE_ADMIN = "admin"
ROLE_AGENT = "agent"
ROLE_SALES = "sales"
ROLE_VIEWER = "viewer"

ROLE_CHOICES = [
    (ROLE_OWNER, "Owner"),
    (ROLE_ADMIN, "Admin"),
    (ROLE_AGENT, "Agent"),
    (ROLE_SALES, "Sales"),
    (ROLE_VIEWER, "Viewer"),
]

ROLE_SCOPES: dict[str, frozenset[str]] = {
    ROLE_OWNER: frozenset(ALL_SCOPES),
    ROLE_ADMIN: frozenset(ALL_SCOPES),
    ROLE_AGENT: frozenset(
        {CONTACTS_READ, CONTACTS_WRITE, CONVERSATIONS_READ, CONVERSATIONS_WRITE, MESSAGES_SEND}
    ),
    # Sales edit the contacts they own (checked per object) and read conversations.
    ROLE_SALES: frozenset({CONTACTS_READ, CONTACTS_WRITE, CONVERSATIONS_READ}),
    ROLE_VIEWER: frozenset({CONTACTS_READ, CONVERSATIONS_READ}),
}
