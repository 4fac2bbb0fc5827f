import logging
import time

import httpx
from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.test import override_settings

from integrations.demo import POLLED, demo_traffic
from integrations.emulator.client import EmulatorClient
from integrations.emulator.server import start_in_thread
from integrations.models import BrandAccount
from integrations.services.polling import brand_account_poll

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Serve the platform emulator. With --feed WORKSPACE, register that workspace's "
        "brand accounts with it and deliver a customer message to one of them every "
        "--interval seconds, signed as the platform would, at their webhook URLs; a blog "
        "comment is added to the emulated site and the blog polled, as beat would."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--feed", metavar="WORKSPACE", default=None)
        parser.add_argument("--interval", type=float, default=8.0)
        parser.add_argument("--count", type=int, default=0, help="stop after N (0: forever)")

    def handle(self, *args, host, port, feed, interval, count, **options):
        server, base_url = start_in_thread(host, port)
        self.stdout.write(f"Platform emulator on {base_url}")
        try:
            if feed:
                # The blog this process polls is the one it emulates, whatever its port.
                with override_settings(
                    CAUSERIE_DISCOURSE_API_URL=base_url, CAUSERIE_WORDPRESS_API_URL=base_url
                ):
                    self._feed(base_url, feed, interval, count)
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.close()

    def _feed(self, base_url: str, workspace: str, interval: float, count: int) -> None:
        client = EmulatorClient(base_url)
        accounts = {
            a.platform: a
            for a in BrandAccount.objects.filter(workspace__slug=workspace, status="active")
        }
        for account in accounts.values():
            client.register_account(account.platform, account.external_id, account.credentials)
        sent = 0
        for platform, payload in demo_traffic(seed=int(time.time()) % 100_000):
            account = accounts.get(platform)
            if account is None:
                continue
            try:
                if platform in POLLED:
                    client.queue_wordpress_comments(account.external_id, [payload])
                    stored = brand_account_poll(account_id=account.pk)
                    self.stdout.write(f"{platform}: polled ({stored} new)")
                else:
                    answer = client.deliver(
                        platform, account.webhook_url, payload, account=account.external_id
                    )
                    self.stdout.write(f"{platform}: delivered ({answer['status']})")
            except DatabaseError as exc:
                # SQLite is busy with the web process: the next poll picks the comment up.
                self.stdout.write(f"{platform}: not polled ({exc})")
            except (httpx.HTTPError, OSError) as exc:
                # Causerie may still be starting: the next round tries again.
                self.stdout.write(f"{platform}: not delivered ({exc})")
            sent += 1
            if count and sent >= count:
                return
            time.sleep(interval)
