"""Full-text search over message text on PostgreSQL, English and French, accent-insensitive.

``causerie_unaccent`` wraps ``unaccent`` in an IMMUTABLE function (``unaccent`` itself is
only STABLE, so it cannot appear in an index). Where the ``unaccent`` extension cannot be
installed the wrapper returns its input, and search stays language-aware without folding
accents. Other databases skip this migration; the selector searches them with LIKE.
"""

from django.db import migrations

FUNCTION_WITH_UNACCENT = """
CREATE OR REPLACE FUNCTION causerie_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
"""
FUNCTION_WITHOUT_UNACCENT = """
CREATE OR REPLACE FUNCTION causerie_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT $1 $$;
"""
# The same expression as conversations.selectors builds, so that the planner uses it.
INDEX = """
CREATE INDEX IF NOT EXISTS msg_text_search ON conversations_message USING gin (
  (to_tsvector('english'::regconfig, causerie_unaccent("text"))
   || to_tsvector('french'::regconfig, causerie_unaccent("text")))
);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'"
        )
        available = cursor.fetchone()[0] > 0
        if available:
            cursor.execute("SAVEPOINT causerie_unaccent")
            try:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
            except Exception:  # no privilege to create extensions: search without folding
                cursor.execute("ROLLBACK TO SAVEPOINT causerie_unaccent")
                available = False
            else:
                cursor.execute("RELEASE SAVEPOINT causerie_unaccent")
        cursor.execute(FUNCTION_WITH_UNACCENT if available else FUNCTION_WITHOUT_UNACCENT)
        cursor.execute(INDEX)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS msg_text_search")
        cursor.execute("DROP FUNCTION IF EXISTS causerie_unaccent(text)")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
