"""Set-based writes for batch paths: one statement for many rows.

Django's ``bulk_create(ignore_conflicts=True)`` cannot say which rows were inserted and
``bulk_update`` compiles a ``CASE`` per column and row; batch ingest needs both for
hundreds of rows per statement, and its ``bulk_create`` sends the text of every value
escaped by psycopg in Python. Here each column is one array parameter bound by the
server. Values go through each field's ``get_db_prep_save`` like the ORM's, so what is
stored is what ``save()`` would store.

Rows are model instances, or, given ``model``, plain dicts of column values by field
``attname`` (``row_new``): a batch that only writes rows and builds their event data
need not build an instance per row (``Model.__init__`` was the largest item of batch
ingest's profile).
"""

import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models
from django.db.models import Model, QuerySet
from psycopg.types.json import Jsonb


class RowsConflict(Exception):
    """Some rows of a set-based insert hit a unique constraint (another writer won)."""


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _execute(sql: str, columns: Sequence[list]) -> list:
    """Run ``sql`` with one array parameter per column, bound by the server; return its rows.

    Django's psycopg cursors bind on the client: a statement with a placeholder per value
    is a text psycopg rebuilds and PostgreSQL parses for every batch, and escaping each
    JSON document into it was the largest cost of a batch. One array per column keeps the
    statement the same whatever the number of rows, and the values travel as parameters.
    The cursor still goes through Django's wrapper, so query logging and execute wrappers
    see the statement.
    """
    connection.ensure_connection()
    with _server_binding_cursor() as cursor:
        cursor.execute(sql, columns)
        return cursor.fetchall() if cursor.description else []


def _server_binding_cursor():
    """A psycopg cursor that binds on the server, behind Django's wrapper (query logging,
    execute wrappers, errors as Django's)."""
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


# Per field class (exactly: a subclass may prepare its values otherwise), the values
# that ``get_db_prep_save`` returns as they are on PostgreSQL; None is one for all of
# them. Those skip its chain of calls, a third of a batch's Python time in building its
# arrays.
_UNCHANGED: dict[type, Callable[[Any], bool]] = {
    models.CharField: lambda value: value.__class__ is str,
    models.TextField: lambda value: value.__class__ is str,
    models.UUIDField: lambda value: value.__class__ is uuid.UUID,
    models.BooleanField: lambda value: value.__class__ is bool,
    models.IntegerField: lambda value: value.__class__ is int,
    models.BigIntegerField: lambda value: value.__class__ is int,
    models.PositiveIntegerField: lambda value: value.__class__ is int,
    models.PositiveBigIntegerField: lambda value: value.__class__ is int,
    # A naive datetime is made aware (with a warning) by the field: not unchanged.
    models.DateTimeField: lambda value: value.__class__ is datetime and value.tzinfo is not None,
}


# orjson refuses what json.dumps writes otherwise (keys that are not strings, integers over
# 64 bits) or refuses too (times, dataclasses: passed through to fail as they would).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_text(value: Any) -> bytes | str:
    """The text a JSON column's value is sent as: orjson's, about ten times faster than
    ``json.dumps`` on the event log's data (the largest item of batch ingest's own CPU);
    ``json.dumps``'s, as ``JSONField`` sends it, for a value orjson refuses."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _unchanged(field) -> Callable[[Any], bool] | None:
    if type(field) is models.ForeignKey:
        field = field.target_field
    return _UNCHANGED.get(type(field))


def _columns(objs: Sequence[Model], fields: Sequence, read: Callable) -> list[list]:
    """The rows' values, one list per field in ``fields`` order, as the ORM would send them."""
    # The connection itself, not the proxy: the proxy looks it up in a context-local on
    # every use, thousands of times per batch here.
    db = connections[DEFAULT_DB_ALIAS]
    columns = []
    for field in fields:
        if read is _read_key:  # rows as dicts: no call per value
            attname = field.attname
            values = [obj[attname] for obj in objs]
        else:
            values = [read(obj, field) for obj in objs]
        if type(field) is models.JSONField and field.encoder is None:
            columns.append(
                [None if value is None else Jsonb(value, _json_text) for value in values]
            )
            continue
        unchanged = _unchanged(field)
        columns.append(
            [
                value
                if unchanged is not None and (value is None or unchanged(value))
                else field.get_db_prep_save(value, db)
                for value in values
            ]
        )
    return columns


def _cast(field) -> str:
    """The type of ``field``'s column without its modifier: a cast to ``varchar(255)`` would
    cut a longer value where storing it must fail, as the ORM's insert does."""
    return re.sub(r"\(.*\)", "", field.cast_db_type(connection))


def _unnest(fields: Sequence) -> str:
    """``unnest(%b::type[], ...)``: the rows of one array per field, typed as its column."""
    return f"unnest({', '.join(f'%b::{_cast(field)}[]' for field in fields)})"


# Values sent once for a column that holds the same one in every row.
_ONCE = frozenset({str, int, bool, uuid.UUID, datetime})


def _rows_select(fields: Sequence, columns: list[list]) -> tuple[str, list]:
    """``SELECT`` of the rows to insert, and its parameters.

    A column holding one value in every row (the workspace, the account, a constant
    status) is that value, sent once, not an array: each array element costs a round of
    psycopg's per-element loop in Python. The primary key stays an array, so that there
    are always rows to select from.
    """
    selected, once, unnested, arrays = [], [], [], []
    for index, (field, values) in enumerate(zip(fields, columns, strict=True)):
        first = values[0]
        if (
            not field.primary_key
            and first.__class__ in _ONCE
            and values.count(first) == len(values)
        ):
            selected.append(f"%b::{_cast(field)}")
            once.append(first)
        else:
            selected.append(f"v.c{index}")
            unnested.append((index, field))
            arrays.append(values)
    names = ", ".join(f"c{index}" for index, _ in unnested)
    sql = (
        f"SELECT {', '.join(selected)} "
        f"FROM {_unnest([field for _, field in unnested])} AS v ({names})"
    )
    return sql, [*once, *arrays]


# Per model: the defaults that are the same immutable value for every row, and the
# fields whose default is made anew for each (a callable: a new id, a new dict).
_ROW_DEFAULTS: dict[type, tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]]] = {}
_IMMUTABLE = (str, int, float, bool, type(None))


def _row_defaults(model: type[Model]) -> tuple[dict[str, Any], list]:
    found = _ROW_DEFAULTS.get(model)
    if found is None:
        constant, made = {}, []
        for field in model._meta.concrete_fields:
            default = field.get_default()
            if isinstance(default, _IMMUTABLE) and not (
                field.has_default() and callable(field.default)
            ):
                constant[field.attname] = default
            else:
                made.append((field.attname, field.get_default))
        found = _ROW_DEFAULTS[model] = (constant, made)
    return found


def row_new(model: type[Model], **values: Any) -> dict[str, Any]:
    """A new row of ``model`` as a dict by field ``attname``: ``values``, and every other
    field's default, as ``model(**values)`` would hold them."""
    constant, made = _row_defaults(model)
    row = {**constant, **{attname: default() for attname, default in made if attname not in values}}
    row.update(values)
    return row


def _read_attribute(obj: Model, field) -> Any:
    return getattr(obj, field.attname)


def _read_key(row: dict[str, Any], field) -> Any:
    return row[field.attname]


# Rows from which an insert is COPied: COPY costs one round trip more than a statement,
# then PostgreSQL writes the rows in bulk (1,000 event-log rows: 18-23 ms of its CPU by
# ``INSERT ... SELECT FROM unnest``, 11-14 by COPY), and psycopg writes each row in one
# call instead of each array element in Python.
COPY_MIN_ROWS = 64


def _copy_types(fields: Sequence) -> list[str] | None:
    """The columns' types as psycopg's binary COPY needs them, or None if it knows one not."""
    registry = connection.connection.adapters.types
    types = [_cast(field) for field in fields]
    return types if all(registry.get(name) is not None for name in types) else None


def _copy(table: str, fields: Sequence, columns: list[list], types: list[str]) -> None:
    """COPY the rows (one list per field) into ``table``; errors as Django's, and the
    statement logged as ``_execute``'s."""
    cursor = _server_binding_cursor()
    statement = (
        f"COPY {_quote(table)} ({', '.join(_quote(field.column) for field in fields)}) "
        "FROM STDIN (FORMAT BINARY)"
    )
    with cursor, connection.wrap_database_errors, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in zip(*columns, strict=True):
            copy.write_row(row)


def _insert(objs: Sequence[Any], suffix: str, model: type[Model] | None) -> int:
    """Insert the rows; return how many COPY wrote, else how many rows the statement
    returned (``suffix``'s ``RETURNING``). A unique violation raises ``IntegrityError``
    from COPY, where the statement's ``ON CONFLICT DO NOTHING`` (``suffix``) leaves the row
    out."""
    meta = (model or type(objs[0]))._meta
    fields = meta.concrete_fields
    if model is None:
        columns = _columns(objs, fields, lambda obj, field: field.pre_save(obj, add=True))
    else:
        if any(getattr(field, "auto_now", False) for field in fields):
            # Such a field sets its value at save, which a dict cannot take.
            raise ValueError(f"{meta.label} has auto_now fields: insert instances")
        columns = _columns(objs, fields, _read_key)
    connection.ensure_connection()
    types = _copy_types(fields) if len(objs) >= COPY_MIN_ROWS else None
    if types is not None:
        _copy(meta.db_table, fields, columns, types)
        written = len(objs)
    else:
        select, params = _rows_select(fields, columns)
        sql = (
            f"INSERT INTO {_quote(meta.db_table)} "
            f"({', '.join(_quote(f.column) for f in fields)}) {select} {suffix}"
        )
        written = len(_execute(sql, params))
    if model is None:
        for obj in objs:  # saved now, as after save(): a later save() updates them
            obj._state.adding = False
            obj._state.db = connection.alias
    return written


def rows_insert(objs: Sequence[Any], *, model: type[Model] | None = None) -> None:
    """Insert ``objs`` (of one model, primary keys set; dicts of ``model``) in one statement.

    Other databases get Django's ``bulk_create``, which writes the same.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        if model is not None:
            objs = [model(**row) for row in objs]
        type(objs[0]).objects.bulk_create(objs)
        return
    _insert(objs, "", model)


def rows_insert_new(objs: Sequence[Any], *, model: type[Model] | None = None) -> None:
    """Insert ``objs`` (of one model; dicts of ``model``) in one statement; raise
    ``RowsConflict`` if any existed.

    PostgreSQL only (``ON CONFLICT`` and ``RETURNING`` on a multi-row insert, COPY).

    ``ON CONFLICT DO NOTHING RETURNING`` tells the rows a concurrent writer (or an earlier
    delivery) already made apart from ours; a COPY (``COPY_MIN_ROWS`` rows and more)
    fails on the first, which aborts the transaction up to the caller's savepoint. Either
    way the caller then rolls its savepoint back and takes the per-row path, which knows
    how to join the winner's row.
    """
    if not objs:
        return
    meta = (model or type(objs[0]))._meta
    returning = f"ON CONFLICT DO NOTHING RETURNING {_quote(meta.pk.column)}"
    try:
        inserted = _insert(objs, returning, model)
    except IntegrityError as exc:
        if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise RowsConflict(f"{meta.label} rows already existed: {exc}") from exc
        raise
    if inserted != len(objs):
        raise RowsConflict(f"{len(objs) - inserted} {meta.label} rows already existed")


def rows_update(
    objs: Sequence[Any], field_names: Sequence[str], *, model: type[Model] | None = None
) -> None:
    """Write ``field_names`` of every obj (of one model; dicts of ``model``) in one
    ``UPDATE ... FROM unnest``.

    Other databases get Django's ``bulk_update``, which writes the same.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        if model is not None:
            objs = [
                model(**{key: row[key] for key in _attnames(model, field_names)}) for row in objs
            ]
        type(objs[0]).objects.bulk_update(objs, field_names)
        return
    meta = (model or type(objs[0]))._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    columns = [_quote(field.column) for field in fields]
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    sql = (
        f"UPDATE {_quote(meta.db_table)} AS t SET {assignments} "
        f"FROM {_unnest(fields)} AS v ({', '.join(columns)}) "
        f"WHERE t.{columns[0]} = v.{columns[0]}"
    )
    _execute(sql, _columns(objs, fields, _read_attribute if model is None else _read_key))


def _attnames(model: type[Model], field_names: Sequence[str]) -> list[str]:
    meta = model._meta
    return [meta.pk.attname, *(meta.get_field(name).attname for name in field_names)]


def rows_where_in(
    model: type[Model], columns: Sequence[str], *, key: str, values: Sequence
) -> list[dict[str, Any]]:
    """The rows of ``model`` whose ``key`` is one of ``values``, as dicts of ``columns``
    (field attnames): ``filter(key__in=values).values(*columns)``'s rows, in no order, as
    that lookup gives them.

    On PostgreSQL one statement with one array parameter, read without compiling a
    queryset and without Django's per-value converters (JSON columns are decoded here):
    for the 90 identities of a contact page that was 0.68 ms of CPU, 0.30 this way.
    Elsewhere, and for a column whose field converts what it reads otherwise, the ORM's.
    """
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    fields = [by_attname[column] for column in columns]
    json_columns = [
        index
        for index, field in enumerate(fields)
        if type(field) is models.JSONField and field.decoder is None
    ]
    if connection.vendor != "postgresql" or any(
        hasattr(field, "from_db_value") and index not in json_columns
        for index, field in enumerate(fields)
    ):
        return list(model.objects.filter(**{f"{key}__in": values}).values(*columns))
    key_field = by_attname[key]
    sql = (
        f"SELECT {', '.join(_quote(field.column) for field in fields)} "
        f"FROM {_quote(model._meta.db_table)} "
        f"WHERE {_quote(key_field.column)} = ANY(%s::{_cast(key_field)}[])"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(values)])
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values_of_row = dict(zip(columns, row, strict=True))
        for index in json_columns:
            text = row[index]
            if text is not None:
                values_of_row[columns[index]] = json.loads(text)
        found.append(values_of_row)
    return found


def prefetched(model: type[Model], rows: list) -> QuerySet:
    """A queryset of ``model`` that holds ``rows`` already, as ``prefetch_related`` leaves it.

    For rows a batch has just built in memory (a new message's reactions: none): reading
    them through the relation then costs neither a query nor compiling one.
    """
    queryset = model.objects.all()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    return queryset
