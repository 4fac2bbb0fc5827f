"""The demo workspace's brand accounts and the live traffic the emulator feeds them."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .emulator import scenarios

# The emulator's address under ``make run`` (EMULATOR_PORT in the Makefile).
DEMO_SITE_URL = "http://127.0.0.1:8025"

# Secrets of local demo accounts only; the emulator plays the platforms they belong to.
DEMO_ACCOUNTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "facebook": (
        "Demo Page",
        "104000000000777",
        {"page_access_token": "EAAG-demo", "app_secret": "demo-fb-secret", "verify_token": "demo"},
    ),
    "instagram": (
        "Demo Instagram",
        "17841400000000777",
        {"access_token": "IGAA-demo", "app_secret": "demo-ig-secret", "verify_token": "demo"},
    ),
    "whatsapp": (
        "Demo WhatsApp",
        "106540352240777",
        {"access_token": "EAAW-demo", "app_secret": "demo-wa-secret", "verify_token": "demo"},
    ),
    "telegram": (
        "Demo bot",
        "7000000777",
        {"bot_token": "7000000777:AAF-demo", "secret_token": "demo-tg-secret"},
    ),
    # Forums and blogs are sites of their own: the demo's live at the emulator's address
    # (``make run`` also points CAUSERIE_DISCOURSE_API_URL/..._WORDPRESS_... there).
    "discourse": (
        "Demo forum",
        DEMO_SITE_URL,
        {"api_key": "demo-discourse-key", "api_username": "causerie", "webhook_secret": "demo-dc"},
    ),
    "wordpress": (
        "Demo blog",
        DEMO_SITE_URL,
        {"username": "causerie", "application_password": "demo wpap pass word"},
    ),
}
# Platforms the emulator feeds by adding items to poll rather than by webhook.
POLLED = frozenset({"wordpress"})
_BLOG_POSTS = (101, 102)

FORUM_TITLES = ("Shipping to Belgium?", "Size guide for the new jackets", "Refund delays")

PEOPLE = [
    ("Camille Martin", "camille"),
    ("Jordan Lee", "jordanlee"),
    ("Inès Benali", "ines.b"),
    ("Sam Taylor", "samt"),
    ("Lucas Dubois", "lucasd"),
]


def demo_traffic(*, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Endless ``(platform, payload)`` of customers writing in now, on every demo account.

    Each round visits every account once, in a shuffled order. The payload is a webhook
    body, or for a polled platform (``POLLED``) the item to add to the emulated site.
    Ids grow from ``seed``, so that a restarted demo never repeats one already stored.
    """
    rng = random.Random(seed)
    counter = itertools.count(1)
    forum = _Forum(seed)
    platforms = sorted(DEMO_ACCOUNTS)
    while True:
        rng.shuffle(platforms)
        for platform in platforms:
            yield platform, _payload(platform, next(counter), seed, rng, forum)


class _Forum:
    """The demo forum's topics and blog's comments so far: replies point at earlier ones."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.posts: dict[int, int] = {}
        self.comments: dict[int, list[int]] = {}

    def post(self, rng: random.Random) -> tuple[int, int, int | None]:
        topic = self.seed * 10 + rng.randrange(len(FORUM_TITLES))
        number = self.posts.get(topic, 0) + 1
        self.posts[topic] = number
        reply_to = rng.randrange(1, number) if number > 1 else None
        return topic, number, reply_to

    def comment(self, rng: random.Random, comment_id: int) -> tuple[int, int]:
        post = rng.choice(_BLOG_POSTS)
        earlier = self.comments.setdefault(post, [])
        parent = rng.choice(earlier) if earlier and rng.random() < 0.6 else 0
        earlier.append(comment_id)
        return post, parent


def _payload(platform: str, n: int, seed: int, rng: random.Random, forum: _Forum) -> Any:
    """One customer's message on ``platform``, written now."""
    stamp = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    _, external_id, _ = DEMO_ACCOUNTS[platform]
    person = rng.randrange(len(PEOPLE))
    name, handle = PEOPLE[person]
    text = rng.choice(scenarios.TEXTS)
    now_ms = int(time.time() * 1000)
    if platform == "facebook":
        item = scenarios.messenger_message(
            external_id,
            f"60000000007{person:05d}",
            f"m_demo_{seed}_{n}",
            text,
            timestamp_ms=now_ms,
        )
        payload = scenarios.page_envelope(external_id, messaging=[item], time_ms=now_ms)
    elif platform == "instagram":
        item = scenarios.instagram_dm(
            external_id,
            f"17800000007{person:05d}",
            f"ig_demo_{seed}_{n}",
            text,
            timestamp_ms=now_ms,
        )
        payload = scenarios.instagram_envelope(external_id, messaging=[item], time_ms=now_ms)
    elif platform == "whatsapp":
        wa_id = f"3361234{person:04d}"
        payload = scenarios.whatsapp_envelope(
            "102290129340777",
            external_id,
            messages=[
                scenarios.whatsapp_text(
                    wa_id, f"wamid.demo.{seed}.{n}", text, timestamp=now_ms // 1000
                )
            ],
            contacts=[(wa_id, name)],
        )
    elif platform == "discourse":
        topic, number, reply_to = forum.post(rng)
        payload = scenarios.discourse_post(
            seed * 100_000 + n,
            topic,
            number,
            text,
            user_id=500 + person,
            username=handle,
            name=name,
            reply_to=reply_to,
            created_at=f"{stamp}.000Z",
            topic_title=FORUM_TITLES[topic % len(FORUM_TITLES)],
        )
    elif platform == "wordpress":
        comment_id = seed * 100_000 + n
        post, parent = forum.comment(rng, comment_id)
        payload = scenarios.wordpress_comment(
            comment_id,
            post,
            text,
            author_name=name,
            author_email=f"{handle}@example.com",
            parent=parent,
            status=rng.choice(("approved", "approved", "approved", "hold")),
            date_gmt=stamp,
        )
    else:
        payload = scenarios.telegram_message(
            seed * 1_000_000 + n,
            900000 + person,
            n,
            text,
            date=now_ms // 1000,
            first_name=name.split()[0],
            username=handle,
        )
    return payload
