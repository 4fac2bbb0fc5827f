"""Realistic platform payloads, and the shapes they are delivered in.

Builders return the JSON a platform would send (raw MIME ``bytes`` for email), with the
field names of CHANNELS.md. ``generate`` strings them into conversations — DMs, comments
with replies, mentions, edits, deletes, reactions, receipts, echoes, attachments, French
and English text with emoji — and can batch several entries per POST, duplicate
deliveries and shuffle their order, as the real platforms do. For backfill,
``facebook_history``, ``instagram_history`` and ``youtube_history`` build the objects the
platforms' read APIs return (posts, media, comments, conversations, comment threads), to
queue with ``EmulatorClient.queue_facebook_feed`` and friends. Signing helpers live in
``integrations.emulator.signing`` and are re-exported here.
"""

from __future__ import annotations

import copy
import hashlib
import html
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from .signing import (  # noqa: F401 - re-exported signing helpers
    email_headers,
    meta_body,
    meta_headers,
    sign_delivery,
    standard_webhooks_headers,
    standard_webhooks_signature,
    telegram_headers,
    x_crc_response,
    x_headers,
)

TEXTS = (
    "Bonjour, ma commande n°42 est-elle partie ? 📦",
    "Hi! Is this available in size M? 👕",
    "Merci beaucoup, c'est parfait 😍",
    "Where is my refund?? 😡",
    "Vous livrez en Belgique ? 🇧🇪",
    "Love it ❤️ — à bientôt !",
    "Can I change the delivery address / l'adresse ?",
    "Ça marche, je vais attendre 🙏",
)
EMOJI = ("❤️", "😂", "👍", "😮", "😢", "🔥")
BASE_MS = 1_718_000_000_000


def _text(rng: random.Random) -> str:
    return rng.choice(TEXTS)


# Meta: Messenger ------------------------------------------------------------------------
def page_envelope(
    page_id: str,
    *,
    messaging: list[dict[str, Any]] | None = None,
    changes: list[dict[str, Any]] | None = None,
    time_ms: int = BASE_MS,
) -> dict[str, Any]:
    """A ``object: "page"`` webhook with one entry."""
    entry: dict[str, Any] = {"id": page_id, "time": time_ms}
    if messaging is not None:
        entry["messaging"] = messaging
    if changes is not None:
        entry["changes"] = changes
    return {"object": "page", "entry": [entry]}


def messenger_message(
    page_id: str,
    psid: str,
    mid: str,
    text: str | None = None,
    *,
    timestamp_ms: int = BASE_MS,
    reply_to: str | None = None,
    image_url: str | None = None,
) -> dict[str, Any]:
    """A customer's message (optionally an inline reply or an image)."""
    message: dict[str, Any] = {"mid": mid}
    if text is not None:
        message["text"] = text
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    if image_url:
        message["attachments"] = [{"type": "image", "payload": {"url": image_url}}]
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": timestamp_ms,
        "message": message,
    }


def messenger_echo(
    page_id: str,
    psid: str,
    mid: str,
    text: str,
    *,
    timestamp_ms: int = BASE_MS,
    metadata: str | None = None,
    app_id: int | None = 1517776481860111,
) -> dict[str, Any]:
    """The echo of the Page's own message (``metadata`` is what our send passed)."""
    message: dict[str, Any] = {"is_echo": True, "app_id": app_id, "mid": mid, "text": text}
    if metadata is not None:
        message["metadata"] = metadata
    return {
        "sender": {"id": page_id},
        "recipient": {"id": psid},
        "timestamp": timestamp_ms,
        "message": message,
    }


def messenger_edit(
    page_id: str, psid: str, mid: str, text: str, num_edit: int, *, timestamp_ms: int = BASE_MS
) -> dict[str, Any]:
    """A ``message_edits`` item."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": timestamp_ms,
        "message_edit": {"mid": mid, "text": text, "num_edit": num_edit},
    }


def messenger_reaction(
    page_id: str,
    psid: str,
    mid: str,
    emoji: str = "❤️",
    *,
    action: str = "react",
    timestamp_ms: int = BASE_MS,
) -> dict[str, Any]:
    """A ``message_reactions`` item (``unreact`` omits the reaction)."""
    reaction: dict[str, Any] = {"action": action, "mid": mid}
    if action == "react":
        reaction.update({"reaction": "love" if emoji == "❤️" else "other", "emoji": emoji})
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": timestamp_ms,
        "reaction": reaction,
    }


def messenger_receipt(
    page_id: str, psid: str, kind: str, watermark_ms: int, *, mids: list[str] | None = None
) -> dict[str, Any]:
    """A ``delivery`` or ``read`` receipt (watermark covers every earlier message)."""
    item: dict[str, Any] = {"sender": {"id": psid}, "recipient": {"id": page_id}}
    if kind == "delivery":
        item["delivery"] = {"watermark": watermark_ms, **({"mids": mids} if mids else {})}
    else:
        item["timestamp"] = watermark_ms + 1000
        item["read"] = {"watermark": watermark_ms}
    return item


def feed_comment(
    post_id: str,
    comment_id: str,
    *,
    verb: str = "add",
    message: str | None = None,
    parent_id: str | None = None,
    author: tuple[str, str] | None = ("7300000000000001", "Jane Roe"),
    created_time: int = BASE_MS // 1000,
) -> dict[str, Any]:
    """A ``feed`` change about a comment (``parent_id`` defaults to the post: top level)."""
    value: dict[str, Any] = {
        "item": "comment",
        "verb": verb,
        "comment_id": comment_id,
        "post_id": post_id,
        "parent_id": parent_id or post_id,
        "created_time": created_time,
    }
    if message is not None:
        value["message"] = message
    if author is not None:
        value["from"] = {"id": author[0], "name": author[1]}
    return {"field": "feed", "value": value}


# Meta: Instagram ------------------------------------------------------------------------
def instagram_envelope(
    ig_id: str,
    *,
    messaging: list[dict[str, Any]] | None = None,
    changes: list[dict[str, Any]] | None = None,
    time_ms: int = BASE_MS,
) -> dict[str, Any]:
    """A ``object: "instagram"`` webhook with one entry."""
    envelope = page_envelope(ig_id, messaging=messaging, changes=changes, time_ms=time_ms)
    envelope["object"] = "instagram"
    return envelope


def instagram_dm(
    ig_id: str,
    igsid: str,
    mid: str,
    text: str | None = None,
    *,
    timestamp_ms: int = BASE_MS,
    echo: bool = False,
    deleted: bool = False,
    reply_to: str | None = None,
    story_id: str | None = None,
) -> dict[str, Any]:
    """An Instagram DM, echo (``is_echo``) or unsend (``is_deleted``)."""
    message: dict[str, Any] = {"mid": mid}
    if deleted:
        message["is_deleted"] = True
    if text is not None:
        message["text"] = text
    if echo:
        message["is_echo"] = True
    if reply_to:
        message["reply_to"] = {"mid": reply_to}
    if story_id:
        message["reply_to"] = {"story": {"url": "https://cdn.example/story.mp4", "id": story_id}}
    sender, recipient = (ig_id, igsid) if echo else (igsid, ig_id)
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": timestamp_ms,
        "message": message,
    }


def instagram_seen(
    ig_id: str, igsid: str, mid: str, *, timestamp_ms: int = BASE_MS
) -> dict[str, Any]:
    """A ``messaging_seen`` item (per message, no watermark)."""
    return {
        "sender": {"id": igsid},
        "recipient": {"id": ig_id},
        "timestamp": timestamp_ms,
        "read": {"mid": mid},
    }


def instagram_comment(
    comment_id: str,
    media_id: str,
    text: str,
    *,
    author: tuple[str, str] = ("1300000000000001", "jane.r"),
    parent_id: str | None = None,
) -> dict[str, Any]:
    """A ``comments`` change (Facebook Login shape; ``parent_id`` for a reply)."""
    value: dict[str, Any] = {
        "from": {"id": author[0], "username": author[1]},
        "id": comment_id,
        "text": text,
        "media": {"id": media_id, "media_product_type": "FEED"},
    }
    if parent_id:
        value["parent_id"] = parent_id
    return {"field": "comments", "value": value}


def instagram_mention(comment_id: str | None, media_id: str) -> dict[str, Any]:
    """A ``mentions`` change (ids only)."""
    value = {"media_id": media_id, **({"comment_id": comment_id} if comment_id else {})}
    return {"field": "mentions", "value": value}


# Meta: WhatsApp -------------------------------------------------------------------------
def whatsapp_envelope(
    waba_id: str,
    phone_number_id: str,
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """A ``whatsapp_business_account`` webhook with one ``messages`` change."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = [
            {"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in contacts
        ]
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
    }


def whatsapp_text(
    wa_id: str,
    wamid: str,
    text: str,
    *,
    timestamp: int = BASE_MS // 1000,
    context_id: str | None = None,
) -> dict[str, Any]:
    """An inbound text message (``context`` when it quotes another)."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    if context_id:
        message["context"] = {"from": "15550783881", "id": context_id}
    return message


def whatsapp_image(
    wa_id: str, wamid: str, *, caption: str | None = None, timestamp: int = BASE_MS // 1000
) -> dict[str, Any]:
    """An inbound image (media id + sha256, no URL)."""
    image = {
        "mime_type": "image/jpeg",
        "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        "id": "1003383421387256",
        **({"caption": caption} if caption else {}),
    }
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "image",
        "image": image,
    }


def whatsapp_reaction(
    wa_id: str, wamid: str, target: str, emoji: str = "👍", *, timestamp: int = BASE_MS // 1000
) -> dict[str, Any]:
    """A reaction message (empty emoji removes it)."""
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "reaction",
        "reaction": {"message_id": target, "emoji": emoji},
    }


def whatsapp_status(
    wamid: str,
    status: str,
    recipient: str,
    *,
    timestamp: int = BASE_MS // 1000,
    error_code: int | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """A status of one of our sends (``failed`` carries ``errors``)."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
    }
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if error_code is not None:
        item["errors"] = [
            {
                "code": error_code,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {
                    "details": "More than 24 hours have passed since the customer last replied."
                },
            }
        ]
    return item


# X ---------------------------------------------------------------------------------------
def x_dm(
    event_id: str, sender: str, recipient: str, text: str, *, timestamp_ms: int = BASE_MS
) -> dict[str, Any]:
    """A ``message_create`` DM event."""
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": str(timestamp_ms),
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": {
                "text": text,
                "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
            },
        },
    }


def x_payload(
    for_user_id: str,
    *,
    dms: list[dict[str, Any]] | None = None,
    tweets: list[dict[str, Any]] | None = None,
    deletes: list[dict[str, Any]] | None = None,
    reads: list[dict[str, Any]] | None = None,
    users: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """An Account Activity body for one subscribed user."""
    body: dict[str, Any] = {"for_user_id": for_user_id}
    if dms:
        body["direct_message_events"] = dms
    if tweets:
        body["tweet_create_events"] = tweets
    if deletes:
        body["tweet_delete_events"] = deletes
    if reads:
        body["direct_message_mark_read_events"] = reads
    if users:
        body["users"] = {
            uid: {"id": uid, "screen_name": handle, "name": name}
            for uid, (handle, name) in users.items()
        }
    return body


def x_tweet(
    tweet_id: str,
    author: tuple[str, str, str],
    text: str,
    *,
    in_reply_to: tuple[str, str] | None = None,
    timestamp_ms: int = BASE_MS,
) -> dict[str, Any]:
    """A v1.1 tweet object; ``author`` is (id, screen_name, name), ``in_reply_to`` (tweet, user)."""
    tweet: dict[str, Any] = {
        "created_at": "Mon Jun 10 10:00:00 +0000 2024",
        "id": int(tweet_id),
        "id_str": tweet_id,
        "text": text,
        "user": {"id_str": author[0], "screen_name": author[1], "name": author[2]},
        "timestamp_ms": str(timestamp_ms),
    }
    if in_reply_to:
        tweet["in_reply_to_status_id_str"], tweet["in_reply_to_user_id_str"] = in_reply_to
    return tweet


def x_delete(tweet_id: str, user_id: str, *, timestamp_ms: int = BASE_MS) -> dict[str, Any]:
    """A ``tweet_delete_events`` item."""
    return {"status": {"id": tweet_id, "user_id": user_id}, "timestamp_ms": str(timestamp_ms)}


# Telegram --------------------------------------------------------------------------------
def telegram_message(
    update_id: int,
    chat_id: int,
    message_id: int,
    text: str | None = None,
    *,
    date: int = BASE_MS // 1000,
    first_name: str = "Jane",
    username: str | None = "janer",
    reply_to: int | None = None,
    photo: bool = False,
    edit_date: int | None = None,
) -> dict[str, Any]:
    """A ``message`` update (``edited_message`` when ``edit_date`` is given)."""
    sender: dict[str, Any] = {
        "id": chat_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": "fr",
    }
    if username:
        sender["username"] = username
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": {"id": chat_id, "type": "private", "first_name": first_name},
        "date": date,
    }
    if photo:
        message["photo"] = [
            {
                "file_id": "AgACsmall",
                "file_unique_id": "AQAD1",
                "width": 90,
                "height": 67,
                "file_size": 1200,
            },
            {
                "file_id": "AgAClarge",
                "file_unique_id": "AQAD2",
                "width": 1280,
                "height": 960,
                "file_size": 98000,
            },
        ]
        if text:
            message["caption"] = text
    elif text is not None:
        message["text"] = text
    if reply_to is not None:
        message["reply_to_message"] = {
            "message_id": reply_to,
            "chat": message["chat"],
            "date": date - 60,
        }
    if edit_date is not None:
        message["edit_date"] = edit_date
        return {"update_id": update_id, "edited_message": message}
    return {"update_id": update_id, "message": message}


def telegram_reaction(
    update_id: int,
    chat_id: int,
    message_id: int,
    *,
    old: list[str],
    new: list[str],
    date: int = BASE_MS // 1000,
) -> dict[str, Any]:
    """A ``message_reaction`` update (old and new emoji sets)."""
    return {
        "update_id": update_id,
        "message_reaction": {
            "chat": {"id": chat_id, "type": "private"},
            "message_id": message_id,
            "user": {"id": chat_id, "is_bot": False, "first_name": "Jane"},
            "date": date,
            "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
        },
    }


# YouTube ---------------------------------------------------------------------------------
def youtube_comment(
    comment_id: str,
    text: str,
    *,
    author_channel: str,
    author_name: str,
    published: str,
    updated: str | None = None,
    parent_id: str | None = None,
    video_id: str | None = None,
) -> dict[str, Any]:
    """A ``youtube#comment`` resource."""
    snippet: dict[str, Any] = {
        "textDisplay": text,
        "textOriginal": text,
        "authorDisplayName": author_name,
        "authorChannelId": {"value": author_channel},
        "canRate": True,
        "viewerRating": "none",
        "likeCount": 0,
        "publishedAt": published,
        "updatedAt": updated or published,
    }
    if parent_id:
        snippet["parentId"] = parent_id
    if video_id:
        snippet["videoId"] = video_id
    return {"kind": "youtube#comment", "etag": "z", "id": comment_id, "snippet": snippet}


def youtube_thread(
    thread_id: str,
    channel_id: str,
    video_id: str,
    top: dict[str, Any],
    replies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``youtube#commentThread`` with its replies."""
    thread = {
        "kind": "youtube#commentThread",
        "etag": "y",
        "id": thread_id,
        "snippet": {
            "channelId": channel_id,
            "videoId": video_id,
            "canReply": True,
            "totalReplyCount": len(replies or []),
            "isPublic": True,
            "topLevelComment": top,
        },
    }
    if replies:
        thread["replies"] = {"comments": replies}
    return thread


# Discourse and WordPress -----------------------------------------------------------------
def discourse_post(
    post_id: int,
    topic_id: int,
    post_number: int,
    raw: str,
    *,
    user_id: int,
    username: str,
    name: str | None = None,
    reply_to: int | None = None,
    created_at: str = "2024-06-10T10:00:00.000Z",
    updated_at: str | None = None,
    version: int = 1,
    deleted_at: str | None = None,
    topic_title: str = "Where is my order?",
) -> dict[str, Any]:
    """A Discourse post webhook body (``{"post": {...}}``, the fields of its serializer)."""
    return {
        "post": {
            "id": post_id,
            "name": name,
            "username": username,
            "avatar_template": f"/user_avatar/forum.example.com/{username}/{{size}}/{user_id}.png",
            "created_at": created_at,
            "cooked": f"<p>{html.escape(raw)}</p>",
            "post_number": post_number,
            "post_type": 1,
            "updated_at": updated_at or created_at,
            "reply_count": 0,
            "reply_to_post_number": reply_to,
            "quote_count": 0,
            "incoming_link_count": 0,
            "reads": 1,
            "score": 0,
            "topic_id": topic_id,
            "topic_slug": "where-is-my-order",
            "topic_title": topic_title,
            "category_id": 4,
            "display_username": name,
            "version": version,
            "user_title": None,
            "bookmarked": False,
            "raw": raw,
            "moderator": False,
            "admin": False,
            "staff": False,
            "user_id": user_id,
            "hidden": False,
            "trust_level": 1,
            "deleted_at": deleted_at,
            "user_deleted": False,
            "edit_reason": None,
            "wiki": False,
            "topic_posts_count": post_number,
            "topic_archetype": "regular",
            "category_slug": "support",
        }
    }


def discourse_topic(
    topic_id: int,
    title: str,
    *,
    user_id: int,
    username: str,
    created_at: str = "2024-06-10T10:00:00.000Z",
) -> dict[str, Any]:
    """A Discourse topic webhook body (``{"topic": {...}}``)."""
    return {
        "topic": {
            "id": topic_id,
            "title": title,
            "fancy_title": html.escape(title),
            "slug": "where-is-my-order",
            "posts_count": 1,
            "created_at": created_at,
            "last_posted_at": created_at,
            "archetype": "regular",
            "category_id": 4,
            "user_id": user_id,
            "visible": True,
            "closed": False,
            "archived": False,
            "created_by": {
                "id": user_id,
                "username": username,
                "name": None,
                "avatar_template": f"/user_avatar/forum.example.com/{username}/{{size}}/1_2.png",
            },
        }
    }


def wordpress_comment(
    comment_id: int,
    post_id: int,
    text: str,
    *,
    author_name: str,
    author: int = 0,
    author_email: str = "",
    parent: int = 0,
    status: str = "approved",
    date_gmt: str = "2024-06-10T10:00:00",
) -> dict[str, Any]:
    """A WordPress comment as ``/wp/v2/comments?context=edit`` shows it."""
    digest = hashlib.md5(author_email.lower().encode(), usedforsecurity=False).hexdigest()
    return {
        "id": comment_id,
        "post": post_id,
        "parent": parent,
        "author": author,
        "author_name": author_name,
        "author_email": author_email,
        "author_url": "",
        "author_ip": "192.0.2.10",
        "author_user_agent": "Mozilla/5.0",
        "date": date_gmt,
        "date_gmt": date_gmt,
        "content": {"rendered": f"<p>{html.escape(text)}</p>\n", "raw": text},
        "link": f"https://blog.example.com/?p={post_id}#comment-{comment_id}",
        "status": status,
        "type": "comment",
        "author_avatar_urls": {
            size: f"https://secure.gravatar.com/avatar/{digest}?s={size}&d=mm&r=g"
            for size in ("24", "48", "96")
        },
        "meta": [],
    }


# History: objects as the Graph and YouTube read APIs return them -------------------------
HISTORY_TEXTS = (
    "Bonjour, vous livrez en Suisse ? 🇨🇭",
    "Is the blue one back in stock? 💙",
    "J'adore cette collection, bravo ! 😍",
    "My parcel never arrived… order #1187",
    "Est-ce que la taille 38 taille grand ?",
    "Any discount for students? 🎓",
    "Merci pour la réponse rapide 🙏",
    "Can I return it after 30 days?",
)
BRAND_TEXTS = (
    "Bonjour ! Oui, nous livrons partout en Europe 🚚",
    "Hi! We'll check with the warehouse and DM you 🙂",
    "Merci beaucoup ❤️",
    "Sorry about that — could you DM us your order number?",
)


def graph_time(epoch_s: float) -> str:
    """A Graph API timestamp: ``2024-06-10T10:00:00+0000``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def facebook_api_comment(
    comment_id: str,
    message: str,
    *,
    author: tuple[str, str] = ("7300000000000001", "Jane Roe"),
    created: float = BASE_MS / 1000,
    replies: list[dict[str, Any]] | None = None,
    photo_url: str | None = None,
) -> dict[str, Any]:
    """A Page post comment as ``/{post-id}/comments`` returns it (``replies`` nest)."""
    comment: dict[str, Any] = {
        "id": comment_id,
        "from": {"id": author[0], "name": author[1]},
        "message": message,
        "created_time": graph_time(created),
    }
    if photo_url:
        comment["attachment"] = {
            "type": "photo",
            "media": {"image": {"src": photo_url, "height": 720, "width": 720}},
            "url": photo_url,
        }
    if replies:
        comment["comments"] = replies
    return comment


def facebook_post(
    post_id: str,
    message: str,
    *,
    created: float = BASE_MS / 1000,
    comments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Page post as ``/{page-id}/feed`` returns it, with its comments to queue."""
    return {
        "id": post_id,
        "message": message,
        "created_time": graph_time(created),
        "comments": comments or [],
    }


def graph_message(
    mid: str,
    text: str | None,
    *,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    created: float = BASE_MS / 1000,
    handle_key: str = "name",
    image_url: str | None = None,
) -> dict[str, Any]:
    """A Messenger/Instagram message as ``/{conversation-id}/messages`` returns it."""
    message: dict[str, Any] = {
        "id": mid,
        "message": text or "",
        "from": {"id": sender[0], handle_key: sender[1]},
        "to": {"data": [{"id": recipient[0], handle_key: recipient[1]}]},
        "created_time": graph_time(created),
    }
    if image_url:
        message["attachments"] = {
            "data": [
                {
                    "id": f"att_{mid}",
                    "mime_type": "image/jpeg",
                    "name": "image.jpg",
                    "image_data": {"url": image_url, "width": 720, "height": 720},
                }
            ]
        }
    return message


def graph_conversation(
    conversation_id: str,
    participants: list[tuple[str, str]],
    messages: list[dict[str, Any]],
    *,
    handle_key: str = "name",
) -> dict[str, Any]:
    """A conversation as ``/{account}/conversations`` lists it, with its messages."""
    return {
        "id": conversation_id,
        "participants": {"data": [{"id": pid, handle_key: name} for pid, name in participants]},
        "messages": messages,
    }


def instagram_api_comment(
    comment_id: str,
    text: str,
    *,
    author: tuple[str, str] = ("1300000000000001", "jane.r"),
    created: float = BASE_MS / 1000,
    replies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An IG comment as ``/{media-id}/comments`` returns it (``replies`` nest)."""
    comment: dict[str, Any] = {
        "id": comment_id,
        "text": text,
        "timestamp": graph_time(created),
        "username": author[1],
        "from": {"id": author[0], "username": author[1]},
    }
    if replies:
        comment["replies"] = replies
    return comment


def instagram_media(
    media_id: str,
    caption: str,
    *,
    created: float = BASE_MS / 1000,
    comments: list[dict[str, Any]] | None = None,
    product_type: str = "FEED",
) -> dict[str, Any]:
    """An IG media object as ``/{ig-id}/media`` returns it, with its comments to queue."""
    return {
        "id": media_id,
        "caption": caption,
        "timestamp": graph_time(created),
        "media_product_type": product_type,
        "comments": comments or [],
    }


@dataclass
class History:
    """What an account's history APIs list, and how many items a backfill should yield."""

    threads: list[dict[str, Any]] = field(default_factory=list)  # posts, media or YT threads
    conversations: list[dict[str, Any]] = field(default_factory=list)
    comments: int = 0
    messages: int = 0


def facebook_history(
    page_id: str,
    *,
    posts: int = 30,
    conversations: int = 30,
    newest: float = BASE_MS / 1000,
    spacing: float = 3600.0,
    seed: int = 0,
) -> History:
    """Posts newest first (one per ``spacing``) with comments, replies and Page answers,
    and Messenger threads with customer messages, Page replies and a photo; French and
    English text. More than 25 of each, so the lists span several pages."""
    rng = random.Random(seed)
    history = History()
    for n in range(posts):
        created = newest - n * spacing
        post_id = f"{page_id}_1221316769{n:08d}"
        comments = []
        for c in range(rng.randint(1, 3)):
            cid = f"1221316769{n:08d}_13{c:02d}{n:012d}"
            replies = [
                facebook_api_comment(
                    f"1221316769{n:08d}_14{c:02d}{n:012d}",
                    rng.choice(BRAND_TEXTS),
                    author=(page_id, "Maison Causerie"),
                    created=created + 60 * (c + 1) + 30,
                )
            ]
            if rng.random() < 0.5:
                replies.append(
                    facebook_api_comment(
                        f"1221316769{n:08d}_15{c:02d}{n:012d}",
                        rng.choice(HISTORY_TEXTS),
                        author=(f"73000000{n:04d}{c:04d}", "Ann Martin"),
                        created=created + 60 * (c + 1) + 45,
                    )
                )
            comments.append(
                facebook_api_comment(
                    cid,
                    rng.choice(HISTORY_TEXTS),
                    author=(f"73000000{n:04d}{c + 10:04d}", rng.choice(("Jane Roe", "Émile Zola"))),
                    created=created + 60 * (c + 1),
                    replies=replies,
                    photo_url="https://scontent.example/p.jpg" if c == 2 else None,
                )
            )
        history.comments += sum(1 + len(c.get("comments", [])) for c in comments)
        history.threads.append(
            facebook_post(
                post_id, f"Nouveauté n°{n} / New in #{n} ✨", created=created, comments=comments
            )
        )
    page = (page_id, "Maison Causerie")
    for n in range(conversations):
        created = newest - n * spacing
        customer = (f"60000000{n:08d}", rng.choice(("Jane Roe", "Léa Dupont", "Tom Baker")))
        messages = [
            graph_message(
                f"m_hist_{n}_1",
                rng.choice(HISTORY_TEXTS),
                sender=customer,
                recipient=page,
                created=created,
            ),
            graph_message(
                f"m_hist_{n}_2",
                rng.choice(BRAND_TEXTS),
                sender=page,
                recipient=customer,
                created=created + 120,
            ),
            graph_message(
                f"m_hist_{n}_3",
                None,
                sender=customer,
                recipient=page,
                created=created + 240,
                image_url="https://scontent.example/dm.jpg",
            ),
        ]
        history.messages += len(messages)
        history.conversations.append(graph_conversation(f"t_{n:010d}", [customer, page], messages))
    return history


def instagram_history(
    ig_id: str,
    *,
    media: int = 30,
    conversations: int = 30,
    newest: float = BASE_MS / 1000,
    spacing: float = 3600.0,
    seed: int = 0,
) -> History:
    """Media newest first with comments and replies (some by the brand), and DM threads."""
    rng = random.Random(seed)
    history = History()
    brand = (ig_id, "maison.causerie")
    for n in range(media):
        created = newest - n * spacing
        comments = []
        for c in range(rng.randint(1, 3)):
            replies = [
                instagram_api_comment(
                    f"1787{n:05d}{c:02d}0{r}",
                    rng.choice(BRAND_TEXTS) if r == 0 else "@jane.r pareil ! 👀",
                    author=brand if r == 0 else (f"13000002{n:05d}{c:02d}", "ann.m"),
                    created=created + 60 * (c + 1) + 30 + r,
                )
                for r in range(rng.randint(0, 2))
            ]
            comments.append(
                instagram_api_comment(
                    f"1786{n:05d}{c:02d}00",
                    rng.choice(HISTORY_TEXTS),
                    author=(f"13000001{n:05d}{c:02d}", rng.choice(("jane.r", "lea.dpt"))),
                    created=created + 60 * (c + 1),
                    replies=replies,
                )
            )
        history.comments += sum(1 + len(c.get("replies", [])) for c in comments)
        history.threads.append(
            instagram_media(
                f"1790{n:013d}", f"Look du jour #{n} 📸", created=created, comments=comments
            )
        )
    for n in range(conversations):
        created = newest - n * spacing
        customer = (f"13000000{n:08d}", rng.choice(("jane.r", "lea.dpt", "tom.b")))
        messages = [
            graph_message(
                f"aWdf_hist_{n}_1",
                rng.choice(HISTORY_TEXTS),
                sender=customer,
                recipient=brand,
                created=created,
                handle_key="username",
            ),
            graph_message(
                f"aWdf_hist_{n}_2",
                rng.choice(BRAND_TEXTS),
                sender=brand,
                recipient=customer,
                created=created + 60,
                handle_key="username",
            ),
        ]
        history.messages += len(messages)
        history.conversations.append(
            graph_conversation(
                f"aWdf_t_{n:08d}", [customer, brand], messages, handle_key="username"
            )
        )
    return history


def youtube_history(
    channel_id: str,
    *,
    threads: int = 150,
    newest: float = BASE_MS / 1000,
    spacing: float = 3600.0,
    seed: int = 0,
) -> History:
    """Comment threads newest first, some answered by the channel, spanning several pages."""
    rng = random.Random(seed)
    history = History()
    for n in range(threads):
        created = newest - n * spacing
        stamp = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        thread_id = f"UgzHist{n:06d}"
        top = youtube_comment(
            thread_id,
            rng.choice(HISTORY_TEXTS),
            author_channel=f"UCfan{n:05d}",
            author_name=f"@fan{n}",
            published=stamp,
            video_id=f"vid{n % 4}",
        )
        replies = []
        if n % 3 == 0:
            replied = datetime.fromtimestamp(created + 600, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            replies.append(
                youtube_comment(
                    f"{thread_id}.brand",
                    rng.choice(BRAND_TEXTS),
                    author_channel=channel_id,
                    author_name="@maisoncauserie",
                    published=replied,
                    parent_id=thread_id,
                )
            )
        history.comments += 1 + len(replies)
        history.threads.append(youtube_thread(thread_id, channel_id, f"vid{n % 4}", top, replies))
    return history


# Email -----------------------------------------------------------------------------------
def email_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    date: datetime | None = None,
) -> bytes:
    """A raw RFC 5322 message (``attachments`` are ``(filename, mime, data)``)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime(2024, 6, 10, 10, 0, tzinfo=UTC))
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


# The generic api channel -----------------------------------------------------------------
def api_event(
    event_type: str,
    message_id: str,
    thread: str,
    *,
    text: str | None = None,
    author: tuple[str, str, str] = ("u-7", "jane", "Jane Roe"),
    parent: str | None = None,
    created_at: str = "2024-06-10T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """One event in the api channel's schema."""
    event: dict[str, Any] = {
        "type": event_type,
        "id": message_id,
        "thread": thread,
        "created_at": created_at,
        "author": {"id": author[0], "handle": author[1], "name": author[2]},
    }
    if text is not None:
        event["text"] = text
    if parent:
        event["parent"] = parent
    event.update(extra)
    return event


# Delivery shapes -------------------------------------------------------------------------
def batch(platform: str, payloads: list[Any]) -> Any:
    """Merge several webhook bodies into one POST, as the platform batches them."""
    if not payloads:
        raise ValueError("nothing to batch")
    if platform in {"facebook", "instagram", "whatsapp"}:
        merged = copy.deepcopy(payloads[0])
        merged["entry"] = [entry for p in payloads for entry in copy.deepcopy(p["entry"])]
        return merged
    if platform == "x":
        merged = {"for_user_id": payloads[0]["for_user_id"]}
        for payload in payloads:
            for key, value in payload.items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(copy.deepcopy(value))
                elif isinstance(value, dict):
                    merged.setdefault(key, {}).update(copy.deepcopy(value))
        return merged
    if platform == "api":
        return {"events": [e for p in payloads for e in p.get("events", [p])]}
    raise ValueError(f"{platform} delivers one item per request")


@dataclass
class Scenario:
    """Deliveries to POST (in order) and how many distinct events they hold."""

    platform: str
    account_id: str
    deliveries: list[Any] = field(default_factory=list)
    unique_events: int = 0


def generate(
    platform: str,
    *,
    account_id: str,
    seed: int = 0,
    conversations: int = 3,
    duplicates: float = 0.0,
    batch_size: int = 1,
    shuffle: bool = False,
) -> Scenario:
    """A realistic mix of events for one account.

    ``duplicates`` is the share of deliveries sent twice; ``batch_size`` merges that many
    bodies per POST where the platform batches; ``shuffle`` delivers out of order.
    """
    rng = random.Random(seed)
    builder = _BUILDERS[platform]
    bodies = [body for n in range(conversations) for body in builder(account_id, n, rng)]
    unique = sum(_count(platform, body) for body in bodies)
    if batch_size > 1 and platform in {"facebook", "instagram", "whatsapp", "x", "api"}:
        bodies = [
            batch(platform, bodies[i : i + batch_size]) for i in range(0, len(bodies), batch_size)
        ]
    deliveries = list(bodies)
    for body in bodies:
        if rng.random() < duplicates:
            deliveries.append(copy.deepcopy(body))
    if shuffle:
        rng.shuffle(deliveries)
    return Scenario(
        platform=platform, account_id=account_id, deliveries=deliveries, unique_events=unique
    )


def _count(platform: str, body: Any) -> int:
    if platform in {"facebook", "instagram"}:
        return sum(len(e.get("messaging", [])) + len(e.get("changes", [])) for e in body["entry"])
    if platform == "whatsapp":
        value = body["entry"][0]["changes"][0]["value"]
        return len(value.get("messages", [])) + len(value.get("statuses", []))
    if platform == "x":
        return sum(len(v) for k, v in body.items() if k.endswith("_events"))
    if platform == "discourse":
        return 1 if "post" in body else 0  # Topic events add nothing to their posts.
    return 1


def _facebook(page_id: str, n: int, rng: random.Random) -> list[Any]:
    psid, t = f"60000000000{n:05d}", BASE_MS + n * 600_000
    post = f"{page_id}_12213167691259{n:04d}"
    first = f"m_in_{n}_1"
    return [
        page_envelope(
            page_id, messaging=[messenger_message(page_id, psid, first, _text(rng), timestamp_ms=t)]
        ),
        page_envelope(
            page_id,
            messaging=[
                messenger_message(
                    page_id,
                    psid,
                    f"m_in_{n}_2",
                    None,
                    timestamp_ms=t + 1000,
                    image_url="https://scontent.example/a.jpg",
                    reply_to=first,
                )
            ],
        ),
        page_envelope(
            page_id,
            messaging=[
                messenger_echo(
                    page_id,
                    psid,
                    f"m_out_{n}",
                    "Merci ! / Thanks! 🙌",
                    timestamp_ms=t + 2000,
                    metadata=f"crm:out:{n}",
                )
            ],
        ),
        page_envelope(
            page_id,
            messaging=[messenger_receipt(page_id, psid, "delivery", t + 2000, mids=[f"m_out_{n}"])],
        ),
        page_envelope(page_id, messaging=[messenger_receipt(page_id, psid, "read", t + 2000)]),
        page_envelope(
            page_id,
            messaging=[messenger_edit(page_id, psid, first, _text(rng), 1, timestamp_ms=t + 3000)],
        ),
        page_envelope(
            page_id,
            messaging=[
                messenger_reaction(
                    page_id, psid, f"m_out_{n}", rng.choice(EMOJI), timestamp_ms=t + 4000
                )
            ],
        ),
        page_envelope(
            page_id, changes=[feed_comment(post, f"c{n}_1", message=_text(rng))], time_ms=t // 1000
        ),
        page_envelope(
            page_id,
            changes=[
                feed_comment(
                    post,
                    f"c{n}_2",
                    message=_text(rng),
                    parent_id=f"c{n}_1",
                    author=("7300000000000002", "Ann"),
                )
            ],
            time_ms=t // 1000,
        ),
        page_envelope(
            page_id,
            changes=[feed_comment(post, f"c{n}_1", verb="remove", author=None)],
            time_ms=t // 1000,
        ),
    ]


def _instagram(ig_id: str, n: int, rng: random.Random) -> list[Any]:
    igsid, t, media = f"13000000000{n:05d}", BASE_MS + n * 600_000, f"179000000000{n:05d}"
    return [
        instagram_envelope(
            ig_id, messaging=[instagram_dm(ig_id, igsid, f"aWdf_{n}_1", _text(rng), timestamp_ms=t)]
        ),
        instagram_envelope(
            ig_id,
            messaging=[
                instagram_dm(
                    ig_id,
                    igsid,
                    f"aWdf_{n}_2",
                    "😍",
                    timestamp_ms=t + 1,
                    story_id="17900000000000001",
                )
            ],
        ),
        instagram_envelope(
            ig_id,
            messaging=[
                instagram_dm(ig_id, igsid, f"aWdf_out_{n}", "Oui ✅", echo=True, timestamp_ms=t + 2)
            ],
        ),
        instagram_envelope(
            ig_id, messaging=[instagram_seen(ig_id, igsid, f"aWdf_out_{n}", timestamp_ms=t + 3)]
        ),
        instagram_envelope(
            ig_id,
            messaging=[instagram_dm(ig_id, igsid, f"aWdf_{n}_1", deleted=True, timestamp_ms=t + 4)],
        ),
        instagram_envelope(
            ig_id,
            changes=[instagram_comment(f"1786{n:05d}1", media, _text(rng))],
            time_ms=t // 1000,
        ),
        instagram_envelope(
            ig_id,
            changes=[
                instagram_comment(
                    f"1786{n:05d}2",
                    media,
                    "@jane.r pareil !",
                    parent_id=f"1786{n:05d}1",
                    author=("1300000000000002", "ann"),
                )
            ],
            time_ms=t // 1000,
        ),
        instagram_envelope(
            ig_id, changes=[instagram_mention(f"1789{n:05d}", f"1791{n:05d}")], time_ms=t // 1000
        ),
    ]


def _whatsapp(pnid: str, n: int, rng: random.Random) -> list[Any]:
    wa_id, ts = f"3361234{n:04d}", BASE_MS // 1000 + n * 600
    first = f"wamid.IN{n}A"
    return [
        whatsapp_envelope(
            "102290129340398",
            pnid,
            contacts=[(wa_id, "Sheena Nelson")],
            messages=[whatsapp_text(wa_id, first, _text(rng), timestamp=ts)],
        ),
        whatsapp_envelope(
            "102290129340398",
            pnid,
            contacts=[(wa_id, "Sheena Nelson")],
            messages=[
                whatsapp_image(wa_id, f"wamid.IN{n}B", caption="Cette couleur ?", timestamp=ts + 1),
                whatsapp_text(
                    wa_id, f"wamid.IN{n}C", "this one 👆", timestamp=ts + 2, context_id=first
                ),
            ],
        ),
        whatsapp_envelope(
            "102290129340398",
            pnid,
            statuses=[
                whatsapp_status(f"wamid.OUT{n}", s, wa_id, timestamp=ts + 3 + i)
                for i, s in enumerate(("sent", "delivered", "read"))
            ],
        ),
        whatsapp_envelope(
            "102290129340398",
            pnid,
            contacts=[(wa_id, "Sheena Nelson")],
            messages=[
                whatsapp_reaction(
                    wa_id, f"wamid.IN{n}D", f"wamid.OUT{n}", rng.choice(EMOJI), timestamp=ts + 9
                )
            ],
        ),
    ]


def _x(user_id: str, n: int, rng: random.Random) -> list[Any]:
    customer = f"30019693{n:02d}"
    t = BASE_MS + n * 600_000
    users = {customer: ("furiouscamper", "Jordan"), user_id: ("brand", "Brand")}
    root = f"17999999999999{n:05d}"
    return [
        x_payload(
            user_id,
            dms=[x_dm(f"95449183011615{n:04d}1", customer, user_id, _text(rng), timestamp_ms=t)],
            users=users,
        ),
        x_payload(
            user_id,
            dms=[
                x_dm(
                    f"95449183011615{n:04d}2",
                    user_id,
                    customer,
                    "On regarde ça 👀",
                    timestamp_ms=t + 1,
                )
            ],
            users=users,
        ),
        x_payload(
            user_id,
            tweets=[
                x_tweet(
                    f"18000000000000{n:05d}",
                    (customer, "furiouscamper", "Jordan"),
                    "@brand " + _text(rng),
                    in_reply_to=(root, user_id),
                    timestamp_ms=t + 2,
                )
            ],
        ),
        x_payload(
            user_id,
            tweets=[
                x_tweet(
                    f"18000000000001{n:05d}",
                    (customer, "furiouscamper", "Jordan"),
                    "@brand hello 👋",
                    timestamp_ms=t + 3,
                )
            ],
        ),
        x_payload(
            user_id, deletes=[x_delete(f"18000000000001{n:05d}", customer, timestamp_ms=t + 4)]
        ),
    ]


def _telegram(bot_id: str, n: int, rng: random.Random) -> list[Any]:
    chat, base = 123456700 + n, 900000000 + n * 10
    date = BASE_MS // 1000 + n * 600
    return [
        telegram_message(base + 1, chat, 42, _text(rng), date=date),
        telegram_message(base + 2, chat, 43, "celle-ci 📸", date=date + 1, reply_to=41, photo=True),
        telegram_message(base + 3, chat, 42, _text(rng), date=date, edit_date=date + 30),
        telegram_reaction(base + 4, chat, 41, old=[], new=[rng.choice(EMOJI)], date=date + 40),
    ]


def _discourse(site: str, n: int, rng: random.Random) -> list[Any]:
    topic, user, stamp = 300 + n, 40 + n, f"2024-06-{10 + n:02d}T10:00:00.000Z"
    later = stamp.replace("T10:", "T11:")
    question = _text(rng)
    return [
        discourse_topic(topic, "Commande / Order", user_id=user, username=f"member{n}"),
        discourse_post(
            9000 + n * 10, topic, 1, question, user_id=user, username=f"member{n}", created_at=stamp
        ),
        discourse_post(
            9001 + n * 10,
            topic,
            2,
            _text(rng),
            user_id=user + 100,
            username=f"helper{n}",
            reply_to=1,
            created_at=later,
        ),
        discourse_post(
            9000 + n * 10,
            topic,
            1,
            f"{question} (edit)",
            user_id=user,
            username=f"member{n}",
            created_at=stamp,
            updated_at=later,
            version=2,
        ),
        discourse_post(
            9001 + n * 10,
            topic,
            2,
            "",
            user_id=user + 100,
            username=f"helper{n}",
            reply_to=1,
            created_at=later,
            deleted_at=later.replace("T11:", "T12:"),
        ),
    ]


def _api(account: str, n: int, rng: random.Random) -> list[Any]:
    thread = f"ticket-{n}"
    return [
        api_event("message.created", f"msg-{n}-1", thread, text=_text(rng)),
        api_event("message.created", f"msg-{n}-2", thread, text=_text(rng), parent=f"msg-{n}-1"),
        api_event("message.edited", f"msg-{n}-1", thread, text=_text(rng), edit_seq=1),
        api_event("reaction.added", f"msg-{n}-2", thread, reaction=rng.choice(EMOJI)),
    ]


def _email(mailbox: str, n: int, rng: random.Random) -> list[Any]:
    first = f"<first-{n}@client.example>"
    customer = f"Jeanne Dupont <jeanne{n}@client.example>"
    return [
        email_message(
            sender=customer,
            to=mailbox,
            subject="Commande / Order",
            text=_text(rng),
            message_id=first,
        ),
        email_message(
            sender=customer,
            to=mailbox,
            subject="Re: Commande / Order",
            text=_text(rng),
            message_id=f"<second-{n}@client.example>",
            in_reply_to=first,
            references=(first,),
            attachments=(("photo.jpg", "image/jpeg", b"\xff\xd8\xff" + bytes(rng.randbytes(32))),),
        ),
    ]


_BUILDERS = {
    "facebook": _facebook,
    "instagram": _instagram,
    "whatsapp": _whatsapp,
    "x": _x,
    "telegram": _telegram,
    "api": _api,
    "email": _email,
    "discourse": _discourse,
}
