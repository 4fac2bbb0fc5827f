"""Bare ingest: the rows an ingested Messenger message makes, written by hand-written SQL.

The ingest benchmark's floor, as the bare SQL endpoints are the reads' (``bench/views.py``):
what the same machine does when no framework stands between the pending events and
PostgreSQL. Per batch, in one transaction, on a psycopg connection of its own:

- claim the due pending events (``FOR UPDATE SKIP LOCKED``, as the drain does);
- decode each body with orjson and take its messages (a Messenger ``messaging`` entry);
- read the senders' identities and their threads' conversations (locked), one query each;
- COPY the new contacts, identities, conversations and messages into the product's own
  tables, with their indexes, constraints and foreign keys;
- update the known conversations' inbox columns in one ``UPDATE ... FROM unnest``;
- take the batch's sequence numbers in one statement and COPY its events into the event
  log, each with a document of the same keys as the API's resource;
- mark the events processed in one statement.

It leaves out what only the product knows: signature checks, the rules of other event
kinds (edits, receipts, reactions, comment threads), replies waiting for their parent,
auto-assignment, deduplication of a message delivered twice, errors and retries, and the
realtime publication after commit. What it writes for a message is what the drain
writes: the same tables, the same rows, event documents of the same keys.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from conversations.services.messages import INBOUND_COLUMNS
from crm.ids import uuid7
from crm.times import iso

BATCH = 500

_CLAIM = """
SELECT id, body FROM integrations_inboundevent
WHERE status = 'pending'
ORDER BY received_at, id
LIMIT %s
FOR UPDATE SKIP LOCKED
"""

_IDENTITIES = """
SELECT i.external_id, c.id, c.name, c.email, c.phone
FROM contacts_identity i JOIN contacts_contact c ON c.id = i.contact_id
WHERE i.workspace_id = %s AND i.platform = 'facebook' AND i.scope_key = %s
  AND i.external_id = ANY(%s)
"""

_CONVERSATIONS = """
SELECT thread_key, id, status, snoozed_until, reopened_count, resolved_at, last_inbound_at,
       last_message_at, last_message_preview, last_message_direction,
       waiting_since, unread_count, created_at, team_id, assignee_id, priority,
       first_response_at, first_response_seconds, resolution_seconds, next_response_count
FROM conversations_conversation
WHERE workspace_id = %s AND brand_account_id = %s AND thread_key <> '' AND thread_key = ANY(%s)
FOR UPDATE
"""

# The columns a customer message changes, as the drain updates them, each an array.
_UPDATED = ("id", *INBOUND_COLUMNS)
_TYPES = {"id": "uuid", "reopened_count": "int", "unread_count": "int", "status": "varchar"}
_TYPES |= {"last_message_preview": "varchar", "last_message_direction": "varchar"}
_UPDATE = (
    "UPDATE conversations_conversation AS t SET "
    + ", ".join(f"{name} = v.{name}" for name in INBOUND_COLUMNS)
    + " FROM unnest("
    + ", ".join(f"%s::{_TYPES.get(name, 'timestamptz')}[]" for name in _UPDATED)
    + f") AS v ({', '.join(_UPDATED)}) WHERE t.id = v.id"
)

_SEQUENCE = """
UPDATE crm_eventsequence SET last_seq = last_seq + %s WHERE workspace_id = %s
RETURNING last_seq
"""

_PROCESSED = """
UPDATE integrations_inboundevent SET status = 'processed', processed_at = %s
WHERE id = ANY(%s)
"""


@dataclass(frozen=True)
class Account:
    """The brand account the bench's Messenger events arrive on."""

    workspace_id: uuid.UUID
    id: uuid.UUID
    page_id: str


def _copy(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


_CONTACT = ("id", "workspace_id", "name", "email", "phone", "company", "lifecycle_stage")
_CONTACT += ("tags", "attributes", "created_at", "updated_at", "phone_key", "search_text")
_CONTACT += ("tag_keys",)
_IDENTITY = ("id", "workspace_id", "contact_id", "platform", "external_id", "scope_key")
_IDENTITY += ("brand_account_id", "handle", "handle_key", "display_name", "avatar_url")
_IDENTITY += ("profile", "created_at")
_CONVERSATION = ("id", "workspace_id", "contact_id", "brand_account_id", "platform", "kind")
_CONVERSATION += ("thread_key", "subject", "status", "priority", "last_message_at")
_CONVERSATION += ("last_inbound_at", "waiting_since", "unread_count", "last_message_preview")
_CONVERSATION += ("last_message_direction", "next_response_count")
_CONVERSATION += ("next_response_seconds_total", "reopened_count", "created_at", "updated_at")
_MESSAGE = ("id", "workspace_id", "conversation_id", "brand_account_id", "direction")
_MESSAGE += ("private", "author_type", "author_id", "author_name", "text", "attachments")
_MESSAGE += ("external_id", "status", "error", "message_tag", "client_ref", "received_at")
_MESSAGE += ("created_at", "platform_metadata")
_EVENT = ("id", "workspace_id", "seq", "type", "occurred_at", "data")


def _message_data(message: tuple, conversation_id: uuid.UUID, contact: dict) -> dict:
    return {
        "id": str(message[0]),
        "conversation": str(conversation_id),
        "direction": "inbound",
        "private": False,
        "author": {"type": "contact", "id": str(contact["id"]), "name": contact["name"]},
        "text": message[9],
        "attachments": [],
        "external_id": message[11],
        "parent": None,
        "status": "received",
        "error": None,
        "message_tag": None,
        "reactions": [],
        "edits": [],
        "platform_metadata": {},
        "sent_at": None,
        "received_at": iso(message[16]),
        "edited_at": None,
        "deleted_at": None,
        "created_at": iso(message[17]),
    }


def _conversation_data(conversation: dict, account: Account, contact: dict) -> dict:
    window_ends = conversation["last_inbound_at"] + timedelta(days=7)
    return {
        "id": str(conversation["id"]),
        "brand_account": str(account.id),
        "platform": "facebook",
        "kind": "direct",
        "thread_key": conversation["thread_key"],
        "subject": "",
        "contact": str(contact["id"]),
        "contact_summary": {
            "id": str(contact["id"]),
            "name": contact["name"],
            "email": contact["email"],
            "phone": contact["phone"],
        },
        "status": conversation["status"],
        "priority": conversation["priority"],
        "assignee": conversation["assignee_id"] and str(conversation["assignee_id"]),
        "team": conversation["team_id"] and str(conversation["team_id"]),
        "labels": [],
        "snoozed_until": iso(conversation["snoozed_until"]),
        "unread_count": conversation["unread_count"],
        "waiting_since": iso(conversation["waiting_since"]),
        "last_message_at": iso(conversation["last_message_at"]),
        "last_inbound_at": iso(conversation["last_inbound_at"]),
        "last_message_preview": conversation["last_message_preview"],
        "last_message_direction": conversation["last_message_direction"],
        "first_response_at": iso(conversation["first_response_at"]),
        "resolved_at": iso(conversation["resolved_at"]),
        "reply_window": {
            "open": window_ends > conversation["updated_at"],
            "expires_at": iso(window_ends),
            "reason": "within_window",
        },
        "service_levels": {
            "first_response_seconds": conversation["first_response_seconds"],
            "resolution_seconds": conversation["resolution_seconds"],
            "next_response_count": conversation["next_response_count"],
            "next_response_avg_seconds": None,
            "reopened_count": conversation["reopened_count"],
        },
        "created_at": iso(conversation["created_at"]),
        "updated_at": iso(conversation["updated_at"]),
    }


def _contact_data(contact: dict, identity: tuple) -> dict:
    return {
        "id": str(contact["id"]),
        "name": "",
        "email": "",
        "phone": "",
        "company": "",
        "lifecycle_stage": "",
        "owner": None,
        "tags": [],
        "attributes": {},
        "identities": [
            {
                "id": str(identity[0]),
                "contact": str(contact["id"]),
                "platform": "facebook",
                "external_id": identity[4],
                "handle": "",
                "display_name": "",
                "avatar_url": "",
                "brand_account": str(identity[6]),
                "profile": {},
                "created_at": iso(identity[12]),
            }
        ],
        "created_at": iso(contact["created_at"]),
        "updated_at": iso(contact["created_at"]),
    }


def _messages(body: bytes, page_id: str) -> list[tuple[str, str, str, datetime]]:
    """(sender, mid, text, sent at) of each text message of a Messenger body."""
    found = []
    for entry in orjson.loads(body).get("entry", ()):
        if entry.get("id") != page_id:
            continue
        for event in entry.get("messaging", ()):
            message = event.get("message")
            if message is None or message.get("is_echo"):
                continue
            at = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
            found.append((event["sender"]["id"], message["mid"], message.get("text", ""), at))
    return found


def _threads_take(cursor, keys: set[str]) -> set[str]:
    """Take the batch's threads by transaction-level advisory locks, without waiting, as
    the drain does (two batches sharing a thread would otherwise wait for each other);
    return the threads another batch holds, whose events stay pending. Only when every
    thread is held elsewhere does it wait for them, so that a drain always progresses."""
    wanted = sorted(keys)
    cursor.execute(
        "SELECT k FROM unnest(%s::text[]) AS k "
        "WHERE NOT pg_try_advisory_xact_lock(hashtextextended(k, 0))",
        [wanted],
    )
    held = {key for (key,) in cursor.fetchall()}
    if held and held == keys:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
            "FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS ordered",
            [sorted(held)],
        )
        return set()
    return held


def bare_ingest_batch(conn: psycopg.Connection, account: Account, limit: int = BATCH) -> int:
    """Ingest up to ``limit`` pending Messenger events of ``account``'s workspace in one
    transaction; return how many it ingested (those of threads another batch holds stay
    pending)."""
    ws = account.workspace_id
    scope = str(account.id)
    with conn.transaction(), conn.cursor() as cursor:
        # Through a cursor, as the drain claims: PostgreSQL then plans for the first rows,
        # which the ordered pending index gives at once.
        with conn.cursor(name="bare_ingest_claim") as claim:
            claimed = claim.execute(_CLAIM, [limit]).fetchall()
        if not claimed:
            return 0
        now = datetime.now(UTC)
        parsed = [(event_id, _messages(bytes(body), account.page_id)) for event_id, body in claimed]
        held = _threads_take(cursor, {f"{account.page_id}:{m[0]}" for _, ms in parsed for m in ms})
        taken = [
            (event_id, found)
            for event_id, found in parsed
            if not any(f"{account.page_id}:{m[0]}" in held for m in found)
        ]
        incoming = [m for _, found in taken for m in found]
        senders = list({sender for sender, *_ in incoming})
        contacts = {
            external_id: {"id": cid, "name": name, "email": email, "phone": phone}
            for external_id, cid, name, email, phone in cursor.execute(
                _IDENTITIES, [ws, scope, senders]
            )
        }
        events: list[tuple[str, dict]] = []
        new_contacts, new_identities = [], []
        threads = [f"{account.page_id}:{sender}" for sender in senders]
        cursor.execute(_CONVERSATIONS, [ws, account.id, threads])
        columns = [d.name for d in cursor.description]
        conversations = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor}
        for conversation in conversations.values():
            conversation["known"] = True
        new_conversations, message_rows, started = [], [], set()
        for sender, mid, text, at in incoming:
            contact = contacts.get(sender)
            if contact is None:
                contact = {"id": uuid7(), "name": "", "email": "", "phone": "", "created_at": now}
                contacts[sender] = contact
                new_contacts.append((contact["id"], ws, "", "", "", "", "", "[]", "{}", now, now))
                new_contacts[-1] += ("", "", "")
                identity = (uuid7(), ws, contact["id"], "facebook", sender, scope, account.id)
                identity += ("", "", "", "", "{}", now)
                new_identities.append(identity)
                events.append(("contact.created", _contact_data(contact, identity)))
            key = f"{account.page_id}:{sender}"
            conversation = conversations.get(key)
            if conversation is None:
                conversation = conversations[key] = {
                    "thread_key": key,
                    "id": uuid7(),
                    "status": "open",
                    "snoozed_until": None,
                    "reopened_count": 0,
                    "resolved_at": None,
                    "last_inbound_at": None,
                    "last_message_at": at,
                    "unread_count": 0,
                    "waiting_since": None,
                    "created_at": at,
                    "team_id": None,
                    "assignee_id": None,
                    "priority": "none",
                    "first_response_at": None,
                    "first_response_seconds": None,
                    "resolution_seconds": None,
                    "next_response_count": 0,
                    "known": False,
                }
            first = not conversation["known"] and conversation["id"] not in started
            started.add(conversation["id"])
            # A customer message reopens or opens its conversation; platforms deliver out
            # of order, so the sort columns only move forward.
            if conversation["status"] == "resolved":
                conversation["reopened_count"] += 1
                conversation["resolved_at"] = None
            if conversation["status"] != "open":
                conversation.update(status="open", snoozed_until=None)
            conversation["last_inbound_at"] = max(
                filter(None, (conversation["last_inbound_at"], at))
            )
            if first or at >= conversation["last_message_at"]:
                conversation.update(
                    last_message_at=at,
                    last_message_preview=" ".join(text.split())[:200],
                    last_message_direction="inbound",
                )
            conversation["waiting_since"] = conversation["waiting_since"] or at
            conversation["unread_count"] += 1
            conversation.update(updated_at=now, contact=contact)
            message = (uuid7(), ws, conversation["id"], account.id, "inbound", False)
            message += ("contact", str(contact["id"]), contact["name"], text, "[]", mid)
            message += ("received", None, "", "", at, now, "{}")
            message_rows.append(message)
            kind = "conversation.created" if first else "conversation.updated"
            events.append((kind, _conversation_data(conversation, account, contact)))
            events.append(("message.created", _message_data(message, conversation["id"], contact)))
        for c in conversations.values():
            if not c["known"]:
                row = (c["id"], ws, c["contact"]["id"], account.id, "facebook", "direct")
                row += (c["thread_key"], "", "open", "none", c["last_message_at"])
                row += (c["last_inbound_at"], c["waiting_since"], c["unread_count"])
                row += (c["last_message_preview"], c["last_message_direction"], 0, 0, 0)
                row += (c["created_at"], now)
                new_conversations.append(row)
        _copy(cursor, "contacts_contact", _CONTACT, new_contacts)
        _copy(cursor, "contacts_identity", _IDENTITY, new_identities)
        _copy(cursor, "conversations_conversation", _CONVERSATION, new_conversations)
        _copy(cursor, "conversations_message", _MESSAGE, message_rows)
        known = [c for c in conversations.values() if c["known"] and "contact" in c]
        if known:
            cursor.execute(
                _UPDATE,
                [[c[name] for c in known] for name in _UPDATED],
            )
        cursor.execute(_PROCESSED, [now, [event_id for event_id, _ in taken]])
        # The foreign keys checked now, not at commit: the event sequence's row lock,
        # taken next, is then held only for the events' insert and the commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        (last,) = cursor.execute(_SEQUENCE, [len(events), ws]).fetchone()
        first_seq = last - len(events) + 1
        _copy(
            cursor,
            "crm_event",
            _EVENT,
            [
                (uuid7(), ws, first_seq + n, kind, now, orjson.dumps(data).decode())
                for n, (kind, data) in enumerate(events)
            ],
        )
        return len(taken)


def bare_ingest_drain(conn: psycopg.Connection, account: Account, budget_seconds: float) -> int:
    """Run batches on ``conn`` until none is due or the budget is spent; return the count."""
    started, total = time.monotonic(), 0
    while True:
        done = bare_ingest_batch(conn, account)
        total += done
        if done == 0 or time.monotonic() - started >= budget_seconds:
            return total


def account_of(brand_account: Any) -> Account:
    """The bare ingest's view of a ``BrandAccount``."""
    return Account(
        workspace_id=brand_account.workspace_id,
        id=brand_account.pk,
        page_id=brand_account.external_id,
    )
