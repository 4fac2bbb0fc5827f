"""The demo workspace's brand accounts and the live traffic the emulator feeds them."""

import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

from .emulator import scenarios

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
}

PEOPLE = [
    ("Camille Martin", "camille"),
    ("Jordan Lee", "jordanlee"),
    ("Inès Benali", "ines.b"),
    ("Sam Taylor", "samt"),
    ("Lucas Dubois", "lucasd"),
]


def demo_traffic(*, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Endless ``(platform, payload)`` of customers writing in now, on every demo account."""
    rng = random.Random(seed)
    counter = itertools.count(1)
    while True:
        n = next(counter)
        platform = rng.choice(sorted(DEMO_ACCOUNTS))
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
        yield platform, payload
