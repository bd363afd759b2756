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


#: The original project's columns (shared/seed/ORIGINAL.md), with the types they have here:
#: its own, but e-mail addresses up to 100 characters (50 cut real ones) and timestamps
#: with their time zone (a UTC instant; stores' local time is their `timezone`).
ORIGINAL_COLUMNS = {
    "customers": {
        "customer_id": "uuid",
        "first_name": "character varying(50)",
        "last_name": "character varying(50)",
        "email": "character varying(100)",
        "address": "text",
        "city": "character varying(50)",
        "state": "character varying(50)",
        "country": "character varying(50)",
        "postal_code": "character varying(20)",
        "date_of_birth": "date",
        "account_balance": "numeric(10,2)",
        "created_at": "timestamp with time zone",
    },
    "products": {
        "product_id": "integer",
        "product_name": "character varying(100)",
        "category": "character varying(100)",
        "price": "numeric(10,2)",
        "quantity": "integer",
    },
    "stores": {
        "store_id": "integer",
        "store_name": "character varying(50)",
        "location": "character varying(50)",
        "store_type": "character varying(50)",
    },
    "transactions": {
        "transaction_id": "uuid",
        "customer_id": "uuid",
        "transaction_date": "timestamp with time zone",
        "transaction_amount": "numeric(10,2)",
        "store_id": "integer",
        "product_id": "integer",
        "quantity": "integer",
        "payment_method": "character varying(50)",
    },
}


def test_every_column_of_the_original_is_kept_with_its_type(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    for table, columns in ORIGINAL_COLUMNS.items():
        created = dict(
            db.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            ).fetchall()
        )
        assert {name: created.get(name) for name in columns} == columns, table
        assert set(columns) <= set(GENERATED[table].columns), table
