"""The tables the pipeline generates and loads: one registry that every step reads.

The DDL is ``sql/schema.sql``; a test checks each table's columns here against the
columns PostgreSQL created. Importing this module is cheap (the DAG does it when it is
parsed): a table names its generator, which is imported when it is first called.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customer_pipeline.generate.csvfile import GeneratedFile
    from customer_pipeline.settings import Settings


@dataclass(frozen=True)
class Table:
    """One generated table: its CSV header is `columns`, in this order."""

    name: str
    key: str  # the primary key column (transactions: with business_date, the partition key)
    columns: tuple[str, ...]
    task: str  # the original DAG's task that generates it
    generator: str  # "module:function", called (settings, folder, day) -> GeneratedFile
    serial_key: bool = False  # the key is a serial: its sequence must follow the loaded ids
    #: the table of every version (SCD type 2: the columns, valid_from, valid_to): the file
    #: holds the day's new versions (the columns and valid_from), the table the current ones
    history: str | None = None
    #: "module:function", called (settings, day, since) -> the columns, block by block, of
    #: every row's version in force at the start of `day`; with `since` (a day before),
    #: only of the rows created or changed after it (the history's catch-up, see load.py)
    versions_before: str | None = None

    @property
    def file_columns(self) -> tuple[str, ...]:
        """The CSV header of the table's files."""
        return (*self.columns, "valid_from") if self.history else self.columns

    def generate(self, settings: Settings, folder: Path, day: dt.date) -> GeneratedFile:
        """Write the table's file of `day` into `folder` (transactions: chunk 0)."""
        module, function = self.generator.split(":")
        return getattr(import_module(module), function)(settings, folder, day)


CUSTOMERS = Table(
    "customers",
    key="customer_id",
    columns=(
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "address",
        "city",
        "state",
        "country",
        "postal_code",
        "date_of_birth",
        "account_balance",
        "created_at",
        "closed_at",
    ),
    task="generate_customers_data",
    generator="customer_pipeline.generate.customer_changes:generate_customers",
    history="customers_history",
    versions_before="customer_pipeline.generate.customer_changes:versions_before",
)
PRODUCTS = Table(
    "products",
    key="product_id",
    columns=(
        "product_id",
        "product_name",
        "category",
        "price",
        "quantity",
        "brand",
        "price_tier",
        "discontinued_at",
    ),
    task="generate_product_data",
    generator="customer_pipeline.generate.product_changes:generate_products",
    serial_key=True,
    history="products_history",
    versions_before="customer_pipeline.generate.product_changes:versions_before",
)
STORES = Table(
    "stores",
    key="store_id",
    columns=(
        "store_id",
        "store_name",
        "location",
        "store_type",
        "open_hour",
        "close_hour",
        "timezone",
    ),
    task="generate_stores_data",
    generator="customer_pipeline.generate.stores:generate_stores",
    serial_key=True,
)
PROMOTIONS = Table(
    "promotions",
    key="promotion_id",
    columns=(
        "promotion_id",
        "name",
        "start_date",
        "end_date",
        "discount_percent",
        "category",
        "product_id",
    ),
    task="generate_promotions_data",
    generator="customer_pipeline.generate.promotions:generate_promotions",
)
TRANSACTIONS = Table(
    "transactions",
    key="transaction_id",
    columns=(
        "transaction_id",
        "basket_id",
        "business_date",
        "customer_id",
        "transaction_date",
        "transaction_amount",
        "store_id",
        "product_id",
        "quantity",
        "unit_price",
        "payment_method",
        "promotion_id",
        "discount_amount",
    ),
    task="generate_transaction_data",
    generator="customer_pipeline.generate.transactions:generate_transactions",
)

#: The returns of the day's lines, drawn when the day is generated (one file a chunk of
#: transactions); the load holds them in returns_scheduled and publishes each in returns
#: once its return day is loaded too (customer_pipeline.returns).
RETURNS = Table(
    "returns",
    key="return_id",
    columns=(
        "return_id",
        "transaction_id",
        "business_date",
        "return_date",
        "quantity",
        "refund_amount",
        "reason",
        "store_id",
    ),
    task="generate_return_data",
    generator="customer_pipeline.generate.returns:generate_returns",
)

#: The dimensions, in the order they are generated and loaded (transactions reference them).
DIMENSIONS = (CUSTOMERS, PRODUCTS, STORES, PROMOTIONS)
#: The dimensions whose files are versions, merged into their history and current tables.
VERSIONED = tuple(table for table in DIMENSIONS if table.history)
#: Every generated table by name, the dimensions first.
GENERATED = {table.name: table for table in (*DIMENSIONS, TRANSACTIONS, RETURNS)}
#: Every table a day's load writes, as published to consumers: the generated ones and the
#: versioned dimensions' histories (SCD2: a day's versions are its new and changed rows).
PUBLISHED = (*GENERATED, *(table.history for table in VERSIONED))


def published_rows(loaded: dict[str, int]) -> dict[str, int]:
    """Rows per published table of a load's rows per generated table: a history gains one
    version per row of its dimension's file."""
    return loaded | {table.history: loaded.get(table.name, 0) for table in VERSIONED}
