"""A realistic workspace, built fast with COPY (psycopg 3), for the benchmarks.

Sizes: ``full`` is 50,000 contacts with 1-3 identities each, 100,000 conversations over
the 8 platforms and 1,000,000 messages; ``quick`` is 1/20 of that; ``tiny`` is for tests.

Rows are written with ``COPY ... FROM STDIN``, never through the ORM row by row. Column
lists come from the models' ``_meta`` (a field added later gets its model default), and
the derived columns are filled the way the services fill them:

- ``Contact.search_text``/``phone_key``/``tag_keys`` by the contacts service's own
  ``contact_denormalize``;
- the conversation's inbox columns (``last_message_at``, ``last_inbound_at``,
  ``last_outbound_at``, ``waiting_since``, ``unread_count``, the preview and its direction,
  first/next response, resolution) by replaying each message in time order with the rules
  of ``conversations.services.messages`` (inbound: the customer starts waiting, unread
  grows; a reply stops the clock and clears unread; private notes change neither;
  resolving clears ``waiting_since``);
- an edited message has ``edited_at`` and a ``MessageEdit`` with its earlier text.

Not generated: the event log's rows (the sequence row exists; nothing read here needs
history), notes, merges.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

PLATFORM_WEIGHTS = {
    "facebook": 25,
    "instagram": 24,
    "whatsapp": 20,
    "email": 10,
    "x": 7,
    "telegram": 6,
    "youtube": 5,
    "api": 3,
}
KINDS_BY_PLATFORM = {
    "facebook": (("direct", 60), ("comment_thread", 40)),
    "instagram": (("direct", 55), ("comment_thread", 35), ("mention", 10)),
    "whatsapp": (("direct", 100),),
    "email": (("email", 100),),
    "x": (("direct", 60), ("mention", 40)),
    "telegram": (("direct", 100),),
    "youtube": (("comment_thread", 100),),
    "api": (("direct", 100),),
}
STATUS_WEIGHTS = (("open", 28), ("pending", 6), ("snoozed", 3), ("resolved", 63))
PRIORITY_WEIGHTS = (("none", 80), ("low", 5), ("medium", 8), ("high", 5), ("urgent", 2))

FR_FIRST = [
    "Camille",
    "Léa",
    "Chloé",
    "Manon",
    "Inès",
    "Jade",
    "Louise",
    "Zoé",
    "Lucas",
    "Hugo",
    "Théo",
    "Nathan",
    "Mathéo",
    "Raphaël",
    "Gabriel",
    "Émile",
    "Noé",
    "Aurélie",
    "Hélène",
    "François",
    "Jérôme",
    "Cécile",
    "Benoît",
    "Amélie",
    "Anaïs",
    "Loïc",
]
FR_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "García",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Müller",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Chevalier",
    "Gauthier",
]
EN_FIRST = [
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "Mia",
    "Harper",
    "Jack",
    "George",
    "Amelia",
    "Grace",
    "Ethan",
    "Chloe",
    "Henry",
    "Isla",
    "Freddie",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
    "Clarke",
    "Walker",
    "Wright",
    "Thompson",
    "White",
    "Harris",
    "Hughes",
    "Evans",
    "Roberts",
    "O'Brien",
]
COMPANIES = (
    "Boulangerie Paul",
    "Acme Corp",
    "Maison Lumière",
    "Globex",
    "Café de Flore",
    "Initech",
)
TAGS = ("vip", "newsletter", "b2b", "retail", "fidèle", "presse", "influenceur")
LIFECYCLE = ("", "", "subscriber", "lead", "opportunity", "customer", "evangelist")

FR = {
    "open": ("Bonjour", "Salut", "Bonsoir", "Coucou", "Madame, Monsieur,", ""),
    "body": (
        "ma commande n°{n} n'est toujours pas arrivée",
        "je voudrais un remboursement pour la {p}",
        "est-ce que la {p} existe en taille {s} ?",
        "vous livrez en Belgique ?",
        "le colis est arrivé abîmé, que dois-je faire ?",
        "je n'arrive plus à me connecter à mon compte",
        "merci pour votre réponse très rapide",
        "quel est le délai de livraison pour la {p} ?",
        "la {p} est magnifique, bravo à toute l'équipe",
        "pouvez-vous changer l'adresse de livraison de la commande {n} ?",
        "j'ai été débité deux fois pour la commande {n}",
        "le code promo {c} ne fonctionne pas",
    ),
    "close": ("Merci !", "Merci d'avance 🙏", "Cordialement.", "😡", "❤️", "", ""),
    "reply": (
        "Bonjour {name}, nous regardons cela tout de suite.",
        "Votre remboursement a été effectué, comptez 3 à 5 jours ouvrés.",
        "Le colis est parti ce matin, voici le numéro de suivi : {c}.",
        "Désolés pour ce désagrément, nous vous renvoyons une {p} neuve.",
        "Oui, nous livrons en Belgique et en Suisse 🙂",
        "Pouvez-vous nous envoyer votre numéro de commande en message privé ?",
    ),
    "product": ("robe", "veste", "chemise", "montre", "lampe", "valise", "écharpe"),
}
EN = {
    "open": ("Hi", "Hello", "Hey", "Good morning,", "Dear team,", ""),
    "body": (
        "my order #{n} still hasn't arrived",
        "I'd like a refund for the {p}",
        "is the {p} available in size {s}?",
        "do you ship to Canada?",
        "the parcel arrived damaged, what should I do?",
        "I can't log into my account anymore",
        "thanks for the very quick answer",
        "how long does delivery take for the {p}?",
        "love the {p}, great job to the whole team",
        "can you change the delivery address of order {n}?",
        "I was charged twice for order {n}",
        "the promo code {c} doesn't work",
    ),
    "close": ("Thanks!", "Thanks in advance 🙏", "Best regards.", "😡", "❤️", "", ""),
    "reply": (
        "Hi {name}, we're looking into it right now.",
        "Your refund has been issued, allow 3 to 5 business days.",
        "The parcel left this morning, here is the tracking number: {c}.",
        "Sorry about that, we're sending you a brand new {p}.",
        "Yes, we ship to Canada and the US 🙂",
        "Could you send us your order number in a private message?",
    ),
    "product": ("dress", "jacket", "shirt", "watch", "lamp", "suitcase", "scarf"),
}
SIZES_LETTERS = ("XS", "S", "M", "L", "XL")
EMOJI = ("❤️", "😂", "👍", "😮", "😢", "🔥")


@dataclass(frozen=True)
class Size:
    name: str
    contacts: int
    conversations: int
    messages: int


SIZES = {
    "full": Size("full", 50_000, 100_000, 1_000_000),
    "quick": Size("quick", 2_500, 5_000, 50_000),
    "tiny": Size("tiny", 40, 80, 600),
}


@dataclass
class Built:
    """What the benchmarks need to know about the generated workspace."""

    size: Size
    workspace: Any
    agent: Any  # the Membership that benchmarks act as ("assignee=me")
    agent_token: str
    brand_accounts: dict[str, Any]
    app_secret: str
    counts: dict[str, int] = field(default_factory=dict)
    longest_conversation_id: str = ""
    busiest_contact_id: str = ""
    search_name: str = ""
    seconds: float = 0.0


# --- COPY of model rows ---------------------------------------------------------------


class Table:
    """COPY rows of one model, columns from ``_meta``; unset fields take model defaults."""

    def __init__(self, model):
        self.model = model
        self.name = model._meta.db_table
        fields = [
            f
            for f in model._meta.concrete_fields
            if not isinstance(f, models.AutoField | models.BigAutoField | models.SmallAutoField)
        ]
        self.attnames = [f.attname for f in fields]
        self.columns = [f.column for f in fields]
        self.json = {f.attname for f in fields if isinstance(f, models.JSONField)}
        self.defaults: dict[str, Any] = {}
        self.callables: dict[str, Any] = {}
        for f in fields:
            if f.has_default() and callable(f.default):
                self.callables[f.attname] = f.default
            else:
                self.defaults[f.attname] = f.get_default()
        self.count = 0

    def copy_sql(self) -> str:
        cols = ", ".join(f'"{c}"' for c in self.columns)
        return f'COPY "{self.name}" ({cols}) FROM STDIN'

    def row(self, values: dict[str, Any]) -> tuple:
        out = []
        for attname in self.attnames:
            if attname in values:
                value = values[attname]
            elif attname in self.callables:
                value = self.callables[attname]()
            else:
                value = self.defaults[attname]
            if attname in self.json and value is not None:
                value = "[]" if value == [] else "{}" if value == {} else _dumps(value)
            out.append(value)
        return tuple(out)

    def row_from_instance(self, instance) -> tuple:
        return self.row({a: getattr(instance, a) for a in self.attnames})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Copier:
    """One open COPY at a time on the Django connection's psycopg cursor."""

    def __init__(self, cursor, table: Table):
        self.table = table
        self._cm = cursor.copy(table.copy_sql())
        self.copy = self._cm.__enter__()

    def write(self, values: dict[str, Any]) -> None:
        self.copy.write_row(self.table.row(values))
        self.table.count += 1

    def write_tuple(self, row: tuple) -> None:
        self.copy.write_row(row)
        self.table.count += 1

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def copy_rows(cursor, table: Table, rows) -> None:
    copier = Copier(cursor, table)
    for row in rows:
        copier.write_tuple(row)
    copier.close()


# --- Secondary indexes: dropped during a big load, rebuilt after ------------------------

_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _drop_indexes(cursor, tables: list[str]) -> list[str]:
    definitions = []
    for table in tables:
        cursor.execute(_INDEXES_SQL, [table])
        for name, definition in cursor.fetchall():
            definitions.append(definition)
            cursor.execute(f"DROP INDEX {name}")
    return definitions


def _try(cursor, statement: str) -> bool:
    """Run ``statement`` in a savepoint; whether it worked."""
    cursor.execute("SAVEPOINT bench_try")
    try:
        cursor.execute(statement)
    except Exception:
        cursor.execute("ROLLBACK TO SAVEPOINT bench_try")
        return False
    cursor.execute("RELEASE SAVEPOINT bench_try")
    return True


# --- Text ---------------------------------------------------------------------------------


def _customer_text(rng: random.Random, lang: dict) -> str:
    body = rng.choice(lang["body"]).format(
        n=rng.randint(1000, 99999),
        p=rng.choice(lang["product"]),
        s=rng.choice(SIZES_LETTERS),
        c=f"PROMO{rng.randint(10, 99)}",
    )
    opener, closer = rng.choice(lang["open"]), rng.choice(lang["close"])
    text = f"{opener} {body}" if opener else body[0].upper() + body[1:]
    return f"{text} {closer}".strip() if closer else text


def _reply_text(rng: random.Random, lang: dict, name: str) -> str:
    return rng.choice(lang["reply"]).format(
        name=name.split(" ")[0] if name else "",
        c=f"FR{rng.randint(10**8, 10**9 - 1)}",
        p=rng.choice(lang["product"]),
    )


def _weighted(rng: random.Random, pairs) -> str:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights)[0]


def thread_lengths(n: int, total: int, rng: random.Random) -> list[int]:
    """``n`` thread lengths summing to ``total``: Pareto-skewed (few long, many short)."""
    if n <= 0:
        return []
    cap = max(1, min(20_000, total // 40))
    weights = [min(rng.paretovariate(1.2), 10_000.0) for _ in range(n)]
    spare = max(0, total - n)
    scale = spare / sum(weights)
    lengths = [min(cap, 1 + int(w * scale)) for w in weights]
    missing = total - sum(lengths)
    while missing > 0:
        i = rng.randrange(n)
        if lengths[i] < cap:
            lengths[i] += 1
            missing -= 1
    return lengths


# --- The generator ------------------------------------------------------------------------


def _workspace_setup(slug: str, rng: random.Random) -> dict[str, Any]:
    from crm.actors import Actor
    from crm.models import Team
    from crm.services.workspaces import member_add, personal_token_create, workspace_create
    from integrations.models import BrandAccount

    created = workspace_create(slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test")
    owner_actor = Actor.for_member(created.owner)
    agents = [
        member_add(actor=owner_actor, email=f"agent{i}@{slug}.test", role="agent", name=name)
        for i, name in enumerate(
            ["Alice Agent", "Bruno Conseiller", "Chloé Support", "Dev Patel", "Emma Care"]
            + [f"Agent {i}" for i in range(5, 20)]
        )
    ]
    _, agent_token = personal_token_create(user=agents[0].user, name="bench")
    teams = []
    for name in ("Support FR", "Support EN", "Social", "VIP"):
        team = Team.objects.create(workspace=created.workspace, name=name)
        team.members.set(agents[len(teams) :: 4])
        teams.append(team)
    app_secret = "bench-app-secret"
    accounts = {}
    for i, platform in enumerate(PLATFORM_WEIGHTS):
        accounts[platform] = BrandAccount.objects.create(
            workspace=created.workspace,
            platform=platform,
            name=f"Bench {platform}",
            external_id=str(1_000_000_000 + i),
            credentials={
                "page_access_token": "bench-token",
                "access_token": "bench-token",
                "app_secret": app_secret,
                "verify_token": "bench-verify",
            },
        )
    return {
        "workspace": created.workspace,
        "owner": created.owner,
        "agents": agents,
        "agent_token": agent_token,
        "teams": teams,
        "accounts": accounts,
        "app_secret": app_secret,
    }


def _external_id(platform: str, n: int, rng: random.Random, name_key: str) -> tuple[str, str]:
    """(external id, handle) of a platform user."""
    if platform == "whatsapp":
        return f"33{600000000 + n}", ""
    if platform == "email":
        return f"{name_key}.{n}@example.com", f"{name_key}.{n}@example.com"
    if platform == "youtube":
        return f"UC{n:022d}", f"@{name_key}{n % 1000}"
    if platform == "telegram":
        return str(500_000_000 + n), f"@{name_key}_{n % 1000}"
    return str(7_000_000_000_000_000 + n * 7919), f"@{name_key}{n % 10000}"


def generate(
    size: Size | str = "quick",
    *,
    slug: str = "bench",
    seed: int = 42,
    drop_indexes: bool = False,
    now: datetime | None = None,
    log=print,
) -> Built:
    """Build the workspace ``slug`` of ``size`` in the default database; return its facts.

    Runs in one transaction. ``drop_indexes`` drops the loaded tables' secondary indexes
    before COPY and rebuilds them after (much faster for the full size).
    """
    import time

    from contacts import normalize
    from contacts.models import Contact, Identity
    from contacts.services.contacts import contact_denormalize
    from contacts.services.identities import SCOPED_PLATFORMS
    from conversations.models import Conversation, Label, Message, MessageEdit, Reaction
    from conversations.services.messages import _preview

    if isinstance(size, str):
        size = SIZES[size]
    started = time.monotonic()
    rng = random.Random(seed)
    now = now or timezone.now()

    with transaction.atomic():
        setup = _workspace_setup(slug, rng)
    workspace = setup["workspace"]
    ws_id = workspace.pk
    accounts = setup["accounts"]
    agents = setup["agents"]
    teams = setup["teams"]
    me = agents[0]
    labels = [
        Label.objects.create(workspace=workspace, name=name)
        for name in ("billing", "shipping", "refund", "vip", "bug", "press", "returns", "promo")
    ]

    tables = {
        m: Table(m) for m in (Contact, Identity, Conversation, Message, Reaction, MessageEdit)
    }
    labels_through = Table(Conversation.labels.through)

    with transaction.atomic():
        raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
        rebuild: list[str] = []
        if drop_indexes:
            rebuild = _drop_indexes(
                raw,
                [t.name for t in (*tables.values(), labels_through)],
            )
        raw.execute("SET LOCAL synchronous_commit = off")
        # The rows are consistent by construction: skip the per-row foreign key triggers
        # where the role may (superuser), otherwise check them all before the rebuild.
        replica = _try(raw, "SET LOCAL session_replication_role = replica")

        # Contacts and identities -------------------------------------------------------
        platforms, platform_weights = zip(*PLATFORM_WEIGHTS.items(), strict=True)
        contact_rows, identity_rows = [], []
        identities: list[tuple] = []  # (contact_id, contact name, lang, platform, identity)
        n_identity = 0
        search_name = ""
        for i in range(size.contacts):
            lang = FR if rng.random() < 0.6 else EN
            first = rng.choice(FR_FIRST if lang is FR else EN_FIRST)
            last = rng.choice(FR_LAST if lang is FR else EN_LAST)
            name = f"{first} {last}"
            key = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
            if i == size.contacts // 2:
                search_name = last
            created_at = now - timedelta(days=rng.uniform(1, 730))
            contact = Contact(
                workspace_id=ws_id,
                name=name,
                email=f"{key}.{i}@example.{rng.choice(['fr', 'com', 'be'])}"
                if rng.random() < 0.55
                else "",
                phone=(f"+33 6 {i % 100:02d} {i // 100 % 100:02d} {rng.randint(10, 99)} 00")
                if rng.random() < 0.35
                else "",
                company=rng.choice(COMPANIES) if rng.random() < 0.3 else "",
                lifecycle_stage=rng.choice(LIFECYCLE),
                owner_id=rng.choice(agents).pk if rng.random() < 0.2 else None,
                tags=rng.sample(TAGS, rng.randint(1, 2)) if rng.random() < 0.25 else [],
                created_at=created_at,
                updated_at=created_at + timedelta(days=rng.uniform(0, 30)),
            )
            own = []
            picks = rng.choices(platforms, platform_weights, k=rng.randint(1, 3))
            for platform in dict.fromkeys(picks):
                external_id, handle = _external_id(platform, n_identity, rng, key)
                n_identity += 1
                account = accounts[platform] if platform in SCOPED_PLATFORMS else None
                identity = Identity(
                    workspace_id=ws_id,
                    contact_id=contact.pk,
                    platform=platform,
                    external_id=external_id,
                    brand_account_id=account.pk if account else None,
                    scope_key=str(account.pk) if account else "",
                    handle=handle,
                    handle_key=normalize.handle_key(handle),
                    display_name=name,
                    created_at=created_at,
                )
                own.append(identity)
                identities.append((contact.pk, name, lang, platform, identity))
            contact_denormalize(contact, identities=own)
            contact_rows.append(tables[Contact].row_from_instance(contact))
            identity_rows.extend(tables[Identity].row_from_instance(x) for x in own)
        copy_rows(raw, tables[Contact], contact_rows)
        copy_rows(raw, tables[Identity], identity_rows)
        del contact_rows, identity_rows
        log(f"  dataset: {tables[Contact].count} contacts, {tables[Identity].count} identities")

        # Conversations and their messages ----------------------------------------------
        order = list(range(len(identities)))
        rng.shuffle(order)
        owners = order[: size.conversations]
        while len(owners) < size.conversations:
            # Some people write again and again: a skewed pick among identities.
            owners.append(order[int(len(order) * rng.random() ** 2)])
        lengths = thread_lengths(size.conversations, size.messages, rng)
        conv_rows, reaction_rows, edit_rows, label_rows = [], [], [], []
        seen_threads: set[tuple] = set()
        messages = Copier(raw, tables[Message])
        longest = (0, None)
        per_contact: dict[Any, int] = {}
        for c_index, (owner, length) in enumerate(zip(owners, lengths, strict=True)):
            contact_id, name, lang, platform, identity = identities[owner]
            account = accounts[platform]
            kind = _weighted(rng, KINDS_BY_PLATFORM[platform])
            thread_key = f"{account.external_id}:{identity.external_id}"
            if kind != "direct" or (account.pk, thread_key) in seen_threads:
                thread_key = f"{account.external_id}:{kind}:{c_index}"
            seen_threads.add((account.pk, thread_key))
            status = _weighted(rng, STATUS_WEIGHTS)
            conv_id = uuid.uuid4()
            per_contact[contact_id] = per_contact.get(contact_id, 0) + length
            if length > longest[0]:
                longest = (length, conv_id)

            # Times: a start in the last year (recent more likely), then gaps.
            age = timedelta(days=365 * rng.random() ** 2, seconds=rng.uniform(0, 86_400))
            start = now - age - timedelta(minutes=5)
            mean_gap = min(1800.0, max(5.0, (now - start).total_seconds() / (length + 1) / 2))

            # Who speaks: customers in bursts, the brand answers; the status decides
            # who spoke last.
            directions = []
            current = "inbound"
            for m in range(length):
                if m and rng.random() < 0.45:
                    current = "outbound" if current == "inbound" else "inbound"
                directions.append(current)
            if length > 1:
                if status in ("resolved", "pending"):
                    directions[-1] = "outbound"
                elif status == "open" and rng.random() < 0.85:
                    directions[-1] = "inbound"

            agent = rng.choice(agents)
            at = start
            ids: list[uuid.UUID] = []
            s = {
                "last_message_at": None,
                "last_inbound_at": None,
                "last_outbound_at": None,
                "waiting_since": None,
                "unread_count": 0,
                "last_message_preview": "",
                "last_message_direction": "",
                "first_response_at": None,
                "first_response_seconds": None,
                "next_response_count": 0,
                "next_response_seconds_total": 0,
            }
            for m, direction in enumerate(directions):
                if m:
                    at = at + timedelta(seconds=rng.expovariate(1 / mean_gap) + 1)
                message_id = uuid.uuid4()
                private = direction == "outbound" and m and rng.random() < 0.03
                attachments = []
                if direction == "inbound":
                    text = _customer_text(rng, lang)
                    if rng.random() < 0.03:
                        attachments = [
                            {"kind": "image", "url": f"https://cdn.example.com/{message_id}.jpg"}
                        ]
                        if rng.random() < 0.5:
                            text = ""
                else:
                    text = _reply_text(rng, lang, name)
                parent = None
                if m and ((kind == "comment_thread" and rng.random() < 0.6) or rng.random() < 0.04):
                    parent = ids[rng.randrange(len(ids))]
                ids.append(message_id)
                deleted_at = at + timedelta(minutes=3) if rng.random() < 0.005 else None
                edited_at = None
                if direction == "inbound" and rng.random() < 0.02 and not deleted_at:
                    edited_at = at + timedelta(minutes=rng.uniform(1, 30))
                    edit_rows.append(
                        tables[MessageEdit].row(
                            {
                                "id": uuid.uuid4(),
                                "workspace_id": ws_id,
                                "message_id": message_id,
                                "previous_text": text[: max(1, len(text) - 6)],
                                "edited_at": edited_at,
                            }
                        )
                    )
                if rng.random() < 0.06:
                    for reaction in rng.sample(EMOJI, rng.randint(1, 2)):
                        by_contact = direction == "outbound"
                        reaction_rows.append(
                            tables[Reaction].row(
                                {
                                    "id": uuid.uuid4(),
                                    "workspace_id": ws_id,
                                    "message_id": message_id,
                                    "author_type": "contact" if by_contact else "member",
                                    "author_id": str(contact_id if by_contact else agent.pk),
                                    "author_name": name if by_contact else agent.user.name,
                                    "reaction": reaction,
                                    "created_at": at + timedelta(minutes=2),
                                }
                            )
                        )
                inbound = direction == "inbound"
                messages.write(
                    {
                        "id": message_id,
                        "workspace_id": ws_id,
                        "conversation_id": conv_id,
                        "brand_account_id": account.pk,
                        "direction": direction,
                        "private": bool(private),
                        "author_type": "contact" if inbound else "member",
                        "author_id": str(contact_id) if inbound else str(agent.pk),
                        "author_name": name if inbound else agent.user.name,
                        "author_member_id": None if inbound else agent.pk,
                        "text": text,
                        "attachments": attachments,
                        "external_id": "" if private else f"bench.{c_index}.{m}",
                        "parent_id": parent,
                        "status": "received" if inbound else ("sent" if private else "read"),
                        "sent_at": None if inbound else at,
                        "received_at": at if inbound else None,
                        "edited_at": edited_at,
                        "deleted_at": deleted_at,
                        "created_at": at,
                    }
                )
                # The inbox columns, as message_ingest_inbound / message_send keep them.
                if private:
                    continue
                s["last_message_at"] = at
                s["last_message_preview"] = _preview(text, attachments)
                s["last_message_direction"] = direction
                if inbound:
                    s["last_inbound_at"] = at
                    if s["waiting_since"] is None:
                        s["waiting_since"] = at
                    s["unread_count"] += 1
                else:
                    if s["waiting_since"] is not None:
                        seconds = int((at - s["waiting_since"]).total_seconds())
                        if s["first_response_at"] is None:
                            s["first_response_at"] = at
                            s["first_response_seconds"] = seconds
                        else:
                            s["next_response_count"] += 1
                            s["next_response_seconds_total"] += seconds
                        s["waiting_since"] = None
                    s["last_outbound_at"] = at
                    s["unread_count"] = 0

            updated_at = at
            resolved_at = resolution_seconds = snoozed_until = None
            if status == "resolved":
                resolved_at = at + timedelta(minutes=rng.uniform(1, 120))
                resolution_seconds = int((resolved_at - start).total_seconds())
                s["waiting_since"] = None
                updated_at = resolved_at
            elif status == "snoozed":
                snoozed_until = now + timedelta(hours=rng.uniform(1, 72))
            assigned = rng.random() < (0.9 if status == "resolved" else 0.55)
            assignee = None
            if assigned:
                assignee = me if rng.random() < 0.05 else rng.choice(agents)
            team = rng.choice(teams) if rng.random() < 0.7 else None
            conv_rows.append(
                tables[Conversation].row(
                    {
                        "id": conv_id,
                        "workspace_id": ws_id,
                        "contact_id": contact_id,
                        "brand_account_id": account.pk,
                        "platform": platform,
                        "kind": kind,
                        "thread_key": thread_key,
                        "subject": "Re: commande" if kind == "email" else "",
                        "status": status,
                        "priority": _weighted(rng, PRIORITY_WEIGHTS),
                        "assignee_id": assignee.pk if assignee else None,
                        "team_id": team.pk if team else None,
                        "snoozed_until": snoozed_until,
                        "resolved_at": resolved_at,
                        "resolution_seconds": resolution_seconds,
                        "created_at": start,
                        "updated_at": updated_at,
                        **s,
                    }
                )
            )
            if rng.random() < 0.2:
                for label in rng.sample(labels, rng.randint(1, 2)):
                    label_rows.append(
                        labels_through.row({"conversation_id": conv_id, "label_id": label.pk})
                    )
        messages.close()
        copy_rows(raw, tables[Conversation], conv_rows)
        copy_rows(raw, tables[Reaction], reaction_rows)
        copy_rows(raw, tables[MessageEdit], edit_rows)
        copy_rows(raw, labels_through, label_rows)
        log(
            f"  dataset: {tables[Conversation].count} conversations, "
            f"{tables[Message].count} messages, {tables[Reaction].count} reactions, "
            f"{tables[MessageEdit].count} edits ({time.monotonic() - started:.1f} s)"
        )
        if rebuild:
            if not replica:
                raw.execute("SET CONSTRAINTS ALL IMMEDIATE")
            raw.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for definition in rebuild:
                raw.execute(definition)
            log(f"  dataset: {len(rebuild)} indexes rebuilt ({time.monotonic() - started:.1f} s)")
        for table in (*tables.values(), labels_through):
            raw.execute(f'ANALYZE "{table.name}"')

    busiest = max(per_contact.items(), key=lambda item: item[1])[0] if per_contact else None
    built = Built(
        size=size,
        workspace=workspace,
        agent=me,
        agent_token=setup["agent_token"],
        brand_accounts=accounts,
        app_secret=setup["app_secret"],
        counts={t.model.__name__: t.count for t in tables.values()},
        longest_conversation_id=str(longest[1]),
        busiest_contact_id=str(busiest),
        search_name=search_name,
        seconds=time.monotonic() - started,
    )
    log(f"  dataset: done in {built.seconds:.1f} s")
    return built
