"""The registry of generated tables matches the tables schema.sql creates."""

from __future__ import annotations

import psycopg

from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings
from customer_pipeline.tables import GENERATED


def test_each_table_has_the_columns_postgresql_created(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    for table in GENERATED.values():
        created = db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table.name],
        ).fetchall()
        assert tuple(name for (name,) in created) == table.columns, table.name


def test_each_key_is_the_primary_key_and_a_serial_where_the_registry_says(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    for table in GENERATED.values():
        (key,) = db.execute(
            "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary",
            [table.name],
        ).fetchone()
        assert key[0] == table.key, table.name
        serial = db.execute(
            "SELECT pg_get_serial_sequence(%s, %s) IS NOT NULL", [table.name, table.key]
        ).fetchone()[0]
        assert serial == table.serial_key, table.name
