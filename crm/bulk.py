"""Set-based writes for batch paths: one statement for many rows.

Django's ``bulk_create(ignore_conflicts=True)`` cannot say which rows were inserted and
``bulk_update`` compiles a ``CASE`` per column and row; batch ingest needs both for
hundreds of rows per statement. Values go through each field's ``get_db_prep_save`` like
the ORM's, so what is stored is what ``save()`` would store.
"""

from collections.abc import Callable, Sequence

from django.db import connection
from django.db.models import Model, QuerySet


class RowsConflict(Exception):
    """Some rows of a set-based insert hit a unique constraint (another writer won)."""


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _values(objs: Sequence[Model], fields: Sequence, read: Callable) -> list:
    """The rows' values, flat, in ``fields`` order, as the ORM would send them."""
    return [
        field.get_db_prep_save(read(obj, field), connection) for obj in objs for field in fields
    ]


def rows_insert_new(objs: Sequence[Model]) -> None:
    """Insert ``objs`` (of one model) in one statement; raise ``RowsConflict`` if any existed.

    PostgreSQL only (``ON CONFLICT`` and ``RETURNING`` on a multi-row insert).

    ``ON CONFLICT DO NOTHING RETURNING`` tells the rows a concurrent writer (or an earlier
    delivery) already made apart from ours, without aborting the transaction; the caller
    then rolls its savepoint back and takes the per-row path, which knows how to join the
    winner's row.
    """
    if not objs:
        return
    meta = type(objs[0])._meta
    fields = meta.concrete_fields
    row = f"({', '.join(['%s'] * len(fields))})"
    values = _values(objs, fields, lambda obj, field: field.pre_save(obj, add=True))
    sql = (
        f"INSERT INTO {_quote(meta.db_table)} ({', '.join(_quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(objs))} "
        f"ON CONFLICT DO NOTHING RETURNING {_quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = len(cursor.fetchall())
    if inserted != len(objs):
        raise RowsConflict(f"{len(objs) - inserted} {meta.label} rows already existed")
    for obj in objs:  # saved now, as after save(): a later save() updates them
        obj._state.adding = False
        obj._state.db = connection.alias


def rows_update(objs: Sequence[Model], field_names: Sequence[str]) -> None:
    """Write ``field_names`` of every obj (of one model) in one ``UPDATE ... FROM (VALUES)``.

    Other databases get Django's ``bulk_update``, which writes the same.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        type(objs[0]).objects.bulk_update(objs, field_names)
        return
    meta = type(objs[0])._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    casts = [field.cast_db_type(connection) for field in fields]
    row = f"({', '.join(f'%s::{cast}' for cast in casts)})"
    values = _values(objs, fields, lambda obj, field: getattr(obj, field.attname))
    columns = [_quote(field.column) for field in fields]
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    sql = (
        f"UPDATE {_quote(meta.db_table)} AS t SET {assignments} "
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS v ({', '.join(columns)}) "
        f"WHERE t.{columns[0]} = v.{columns[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def prefetched(model: type[Model], rows: list) -> QuerySet:
    """A queryset of ``model`` that holds ``rows`` already, as ``prefetch_related`` leaves it.

    For rows a batch has just built in memory (a new message's reactions: none): reading
    them through the relation then costs neither a query nor compiling one.
    """
    queryset = model.objects.all()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    return queryset
