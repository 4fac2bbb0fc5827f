from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integrations.crypto import reencrypt
from integrations.models import BrandAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored platform credential with the newest key of "
        "CAUSERIE_ENCRYPTION_KEYS. Put the new key first, run this, then remove the old key."
    )

    def handle(self, *args, **options):
        table = connection.ops.quote_name(BrandAccount._meta.db_table)
        rotated = 0
        # Raw values: the ciphertext is rotated without ever decoding it into Python objects
        # that could end up in a log.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, credentials FROM {table}")
            for pk, token in cursor.fetchall():
                if not token:
                    continue
                cursor.execute(
                    f"UPDATE {table} SET credentials = %s WHERE id = %s",
                    [reencrypt(token), pk],
                )
                rotated += 1
        self.stdout.write(f"re-encrypted the credentials of {rotated} brand accounts")
