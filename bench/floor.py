"""The floor: `psql \\copy` of the rows the day publishes into empty tables, then the
same keys.

The rows the day publishes are its files: its lines, the returns of its lines, and its
new and changed dimension rows (customers' and products' versions go into their history
tables, as the load puts them). In a steady history a day publishes as many returns as
its lines will have: the floor copies those, as a table `returns` with the published
table's keys.

The plain tables have the columns and types of the library's tables and nothing else
(no keys, checks, NOT NULL, defaults or partitions); the keys are the library's primary
and foreign keys, read from the catalog after the library's own create_tables, so the
floor follows the schema when it changes. Foreign keys to customers and products are
left out: their rows are older days' (empty tables do not hold them).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from common import settings_for
from psycopg import sql

from customer_pipeline.schema import create_tables
from customer_pipeline.tables import GENERATED

_COLUMNS = """
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
"""
_KEYS = """
SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname
"""


@dataclass(frozen=True)
class PlainSchema:
    """CREATE TABLE statements without constraints, and the keys to add afterwards."""

    tables: dict[str, str]  # table -> column list "name type, ..."
    unique_keys: list[tuple[str, str]]  # (table, "PRIMARY KEY (...)"), built first
    foreign_keys: list[tuple[str, str]]  # (table, "FOREIGN KEY (...) REFERENCES ...")


def plain_schema(url: str, scratch_schema: str) -> PlainSchema:
    """Read the library's tables (created in a scratch schema, then dropped)."""
    create_tables(settings_for({}, database_url=url, schema=scratch_schema))
    tables: dict[str, str] = {}
    unique: list[tuple[str, str]] = []
    foreign: list[tuple[str, str]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(scratch_schema)))
        for table in map(target, GENERATED):
            columns = conn.execute(_COLUMNS, [table]).fetchall()
            tables[table] = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            for kind, definition in conn.execute(_KEYS, [table]).fetchall():
                if kind == "f" and _OLDER_ROWS.search(definition):
                    continue
                (foreign if kind == "f" else unique).append((table, definition))
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch_schema)))
    return PlainSchema(tables, unique, foreign)


#: a foreign key to a table whose rows come from older days (see the module's docstring)
_OLDER_ROWS = re.compile(r"REFERENCES (customers|products)\(")


def target(table: str) -> str:
    """The table a generated file's rows go to: a versioned dimension's history."""
    return GENERATED[table].history or table


def _header(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().strip()


def _copy_command(schema: str, file: dict[str, Any]) -> str:
    path = file["path"].replace("'", "''")
    return (
        f'\\copy "{schema}"."{target(file["table"])}" ({_header(file["path"])}) '
        f"FROM '{path}' WITH (FORMAT csv, HEADER true)"
    )


def _psql(psql: str, url: str, commands: Sequence[str]) -> subprocess.Popen:
    args = [psql, url, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _balanced(files: list[dict[str, Any]], groups: int) -> list[list[dict[str, Any]]]:
    """Files dealt to `groups` lists of about equal rows, dimensions first in each."""
    out: list[list[dict[str, Any]]] = [[] for _ in range(groups)]
    load = [0] * groups
    for file in sorted(files, key=lambda f: (f["table"] == "transactions", -f["rows"])):
        least = load.index(min(load))
        out[least].append(file)
        load[least] += file["rows"]
    return out


def load_floor(
    url: str,
    psql: str,
    schema: str,
    plain: PlainSchema,
    files: list[dict[str, Any]],
    *,
    connections: int = 1,
) -> dict[str, Any]:
    """Create the plain tables in `schema`, then time \\copy of every file plus the keys.

    connections=1 is the issue's floor: one psql, one file after the other (dimensions
    first). More runs that many psql processes at once over a balanced share of files.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for table, columns in plain.tables.items():
            conn.execute(f'CREATE TABLE "{table}" ({columns})')
        ordered = sorted(files, key=lambda f: (list(GENERATED).index(f["table"]), f["path"]))
        groups = [ordered] if connections == 1 else _balanced(ordered, connections)

        started = time.perf_counter()
        procs = [_psql(psql, url, [_copy_command(schema, f) for f in group]) for group in groups]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"psql \\copy failed: {err.decode(errors='replace').strip()}")
        copied = time.perf_counter()
        key_seconds = []
        for table, definition in plain.unique_keys + plain.foreign_keys:
            key_started = time.perf_counter()
            conn.execute(f'ALTER TABLE "{table}" ADD {definition}')
            key_seconds.append([table, definition, round(time.perf_counter() - key_started, 4)])
        finished = time.perf_counter()

        loaded = {
            t: conn.execute(f'SELECT count(*) FROM "{target(t)}"').fetchone()[0] for t in GENERATED
        }
    expected = {t: sum(f["rows"] for f in files if f["table"] == t) for t in GENERATED}
    if loaded != expected:
        raise RuntimeError(f"floor loaded {loaded}, the files hold {expected}")
    return {
        "seconds": round(finished - started, 4),
        "copy_seconds": round(copied - started, 4),
        "keys_seconds": round(finished - copied, 4),
        "keys": key_seconds,
        "psql_processes": len(groups),
        "rows": loaded,
    }
