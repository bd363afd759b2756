"""The README's data dictionary names every column of every table the schema creates."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def dictionary() -> dict[str, set[str]]:
    """table -> the columns its rows name ('*': all; 'min_': a prefix, as in
    "`min_`/`max_transaction_amount`"), from the "Data dictionary" table."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("| table.column", text.index("**Data dictionary.**")) :]
    section = section[: section.index("\n\n")]
    named: dict[str, set[str]] = {}
    for row in section.splitlines()[2:]:
        first = row.split("|")[1]
        names = re.findall(r"`([^`]+)`", first)
        table, _, column = names[0].partition(".")
        columns = {column, *(name for name in names[1:] if "." not in name)}
        named.setdefault(table, set()).update(columns)
    return named


def test_every_table_and_column_is_in_the_data_dictionary(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    rows = db.execute(
        "SELECT c.relname, a.attname FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition"
    ).fetchall()
    named = dictionary()
    missing = sorted(
        f"{table}.{column}"
        for table, column in rows
        if "*" not in named.get(table, set())
        and column not in named.get(table, set())
        and not any(
            name.endswith("_") and column.startswith(name) for name in named.get(table, set())
        )
    )
    assert missing == []
