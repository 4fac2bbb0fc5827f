"""PostgreSQL only: trigram GIN indexes so that ``LIKE '%...%'`` on the derived columns
is an index scan. SQLite has no such index and scans; the query is the same.

Where ``pg_trgm`` cannot be installed (no privilege), search stays correct and scans.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SAVEPOINT causerie_trgm")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # no privilege to create extensions: search without the index
            cursor.execute("ROLLBACK TO SAVEPOINT causerie_trgm")
            return
        cursor.execute("RELEASE SAVEPOINT causerie_trgm")
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS contact_search_trgm ON contacts_contact "
            "USING gin (search_text gin_trgm_ops)"
        )
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS contact_tags_trgm ON contacts_contact "
            "USING gin (tag_keys gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS contact_search_trgm")
        cursor.execute("DROP INDEX IF EXISTS contact_tags_trgm")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_contact_search_notes_attributes_merges")]

    operations = [migrations.RunPython(forwards, backwards)]
