"""Many rows written with one statement: for the paths that write hundreds or thousands of rows
at once (stream events of many channels, a 10,000-message upload, a batch of task chunks), where
model instances, ``bulk_create`` and above all ``bulk_update`` (one CASE expression per row and
field, built by the ORM) cost far more than the database does.

Values are given in ``columns`` order: datetimes aware, JSON fields as Python values; they are
adapted as the ORM would adapt them.
"""

from __future__ import annotations

from django.db import connection, transaction


def _adapters(model, columns: list[str]) -> list:
    """(column index, how to adapt its values, whether that can be memoized) of each column
    whose values need adapting for this database."""
    ops = connection.ops
    fields = {field.column: field for field in model._meta.concrete_fields}
    # PostgreSQL's driver takes aware datetimes as they are; SQLite's wants text.
    datetimes = connection.vendor != "postgresql"
    adapt = []
    for index, column in enumerate(columns):
        internal = fields[column].get_internal_type()
        if internal == "DateTimeField" and datetimes:
            adapt.append((index, ops.adapt_datetimefield_value, True))
        elif internal == "JSONField":
            adapt.append((index, lambda value, field=fields[column]: ops.adapt_json_value(
                value, field.encoder), False))
    return adapt


def _prepared(model, columns: list[str], rows: list) -> list[list]:
    adapters = _adapters(model, columns)
    prepared = [list(row) for row in rows]
    for index, how, memoizable in adapters:
        if not memoizable:  # JSON: most values are None, adapted once
            empty = how(None)
            for row in prepared:
                value = row[index]
                row[index] = empty if value is None else how(value)
            continue
        # A batch's rows mostly share their datetimes (``now``): adapt each distinct value once.
        seen: dict = {}
        for row in prepared:
            value = row[index]
            adapted = seen.get(value)
            if adapted is None:
                adapted = seen[value] = how(value)
            row[index] = adapted
    return prepared


def rows_insert(model, columns: list[str], rows: list) -> None:
    """Insert ``rows`` with COPY (PostgreSQL) or one prepared statement (SQLite)."""
    if not rows:
        return
    ops = connection.ops
    prepared = _prepared(model, columns, rows)
    table = ops.quote_name(model._meta.db_table)
    names = ", ".join(ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: several times faster than INSERTs
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        for start in range(0, len(prepared), 2000):
            cursor.executemany(sql, prepared[start:start + 2000])


def rows_update(model, columns: list[str], rows: list) -> None:
    """Set ``columns`` of rows by primary key: each row is ``[pk, *values]``; one prepared
    UPDATE run for every row."""
    if not rows:
        return
    ops = connection.ops
    prepared = _prepared(model, columns, [row[1:] for row in rows])
    table = ops.quote_name(model._meta.db_table)
    assignments = ", ".join(f"{ops.quote_name(c)} = %s" for c in columns)
    sql = f"UPDATE {table} SET {assignments} WHERE {ops.quote_name(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [values + [row[0]] for values, row in zip(prepared, rows)])


def rows_upsert(model, columns: list[str], rows: list, unique: list[str],
                update: dict[str, str]) -> None:
    """Insert ``rows``, or where a row with the same ``unique`` columns exists, set each column
    of ``update`` to its SQL expression (``excluded.<column>`` is the row offered; the table's
    own value is ``<table>.<column>``). PostgreSQL: the rows are COPied to a temporary table,
    then inserted from it in one statement; SQLite: one prepared statement run per row. Rows
    must not repeat a key."""
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    names = ", ".join(ops.quote_name(c) for c in columns)
    conflict = ", ".join(ops.quote_name(c) for c in unique)
    assignments = ", ".join(f"{ops.quote_name(c)} = {expression}"
                            for c, expression in update.items())
    tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    prepared = _prepared(model, columns, rows)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            staged = ops.quote_name(f"upsert_{model._meta.db_table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS "
                           f"SELECT {names} FROM {table} WITH NO DATA")
            with cursor.cursor.copy(f"COPY {staged} ({names}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staged}{tail}")
            cursor.execute(f"DROP TABLE {staged}")
            return
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))}){tail}"
        for start in range(0, len(prepared), 2000):
            cursor.executemany(sql, prepared[start:start + 2000])
