"""Many rows in or out in one round, straight through the driver (SQLite and PostgreSQL).

SQLAlchemy's per-row work (Row objects, bind processing per value, ORM bulk bookkeeping) cost more
than the database did for the hundred thousand rows of a match's results, and for the million
postings of a shareable set; these helpers keep its compiled-free path: SQL text with the
driver's parameter marks, executemany, the driver's own tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table


def mark(connection: Connection) -> str:
    """The driver's parameter mark: `?` for sqlite3, `%s` for psycopg."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def driver_rows(connection: Connection, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """All rows of a query written with `?` marks (a constant: no `?` in it but the marks), as the
    driver's tuples."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql.replace("?", mark(connection)), parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def insert_new(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
               unique: Sequence[str]) -> int:
    """Insert `rows` (dicts of the same columns), leaving out each that clashes on the `unique`
    columns (ON CONFLICT DO NOTHING, both engines). Values pass through their column type's bind
    processing (aware datetimes, for one), once per distinct value. Returns how many were new."""
    if not rows:
        return 0
    names = list(rows[0])
    dialect = connection.dialect
    processed: list[list[Any]] = []
    for name in names:
        column = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            done: dict[Any, Any] = {}
            column = [done[v] if v in done else done.setdefault(v, process(v)) for v in column]
        processed.append(column)
    return insert_rows(connection, table.name, names, list(zip(*processed, strict=True)), unique=unique)


def insert_rows(connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *,
                unique: Sequence[str] | None = None) -> int:
    """executemany of `rows` (values as the driver takes them) into `table`; with `unique`, a row
    that clashes on those columns is left out (ON CONFLICT DO NOTHING). Table and column names are
    the schema's, never input. Returns how many rows were inserted."""
    marks = ", ".join([mark(connection)] * len(columns))
    sql = f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({marks})"  # noqa: S608 - names from the schema
    if unique is not None:
        sql += f" ON CONFLICT ({_quoted(unique)}) DO NOTHING"
    return int(connection.exec_driver_sql(sql, list(rows)).rowcount)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)
