"""One schema, one dataset: the parameters that decide the data's content, stored once.

A dataset is what makes a day's rows what they are: the seed, the locale, the initial
sizes of the dimensions, the history start, the version of the generators and of their
value pools, and the digest of the catalog's file (data/catalog.toml: the products and
the promotions' rules). The first run that fills a schema records them in
``pipeline_dataset``; every later run must ask for the same, or is refused before its
first write. A day's transaction volume, the chunk size and everything about delivery may
change from day to day: they change how much of the dataset is made, or how, not what.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from customer_pipeline.errors import ConfigError
from customer_pipeline.generate.catalog import DIGEST as CATALOG_DIGEST
from customer_pipeline.generate.pools import pools_version
from customer_pipeline.generate.stores import ZONES_DIGEST
from customer_pipeline.settings import Settings

#: Bumped whenever the generators make other rows from the same parameters.
GENERATOR_VERSION = 13


@dataclass(frozen=True)
class Dataset:
    """The parameters that a schema's rows depend on (one row of pipeline_dataset)."""

    seed: int
    locale: str
    customers: int
    products: int
    stores: int
    history_start: dt.date
    generator: str  # the generators' version, the locale's value pools', the catalog's and
    # the time zones' digests

    @classmethod
    def of(cls, settings: Settings) -> Dataset:
        sizes = settings.sizes
        return cls(
            seed=settings.seed,
            locale=settings.locale,
            customers=sizes.customers,
            products=sizes.products,
            stores=sizes.stores,
            history_start=settings.history_start,
            generator=(
                f"{GENERATOR_VERSION}; pools {pools_version(settings.locale)}; "
                f"catalog {CATALOG_DIGEST}; zones {ZONES_DIGEST}"
            ),
        )

    def differences(self, requested: Dataset) -> list[str]:
        """'name stored -> requested' for every parameter that differs."""
        return [
            f"{field.name} {getattr(self, field.name)} -> {getattr(requested, field.name)}"
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != getattr(requested, field.name)
        ]


COLUMNS = tuple(field.name for field in dataclasses.fields(Dataset))
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM pipeline_dataset"


def stored_dataset(conn) -> Dataset | None:  # conn: psycopg.Connection, search_path set
    """The schema's dataset, or None when the schema holds none yet."""
    if conn.execute("SELECT to_regclass('pipeline_dataset') IS NULL").fetchone()[0]:
        return None
    row = conn.execute(_SELECT).fetchone()
    return Dataset(*row) if row else None


def refuse_other_dataset(settings: Settings, stored: Dataset | None) -> None:
    """Raise ConfigError, naming what differs and the ways out, unless the schema holds
    no dataset or the one that `settings` asks for."""
    if stored is None:
        return
    differences = stored.differences(Dataset.of(settings))
    if differences:
        raise ConfigError(
            f"schema {settings.db_schema!r} holds another dataset ({'; '.join(differences)}): "
            "use another DATABASE_SCHEMA for this one, or --reset to delete the stored "
            "one and start this one"
        )


def check_dataset(settings: Settings) -> None:
    """Refuse, before any write, a run whose dataset is not the schema's (unless reset)."""
    from customer_pipeline.database import connect

    if settings.reset:
        return
    with connect(settings, autocommit=True) as conn:
        refuse_other_dataset(settings, stored_dataset(conn))


def record_dataset(conn, settings: Settings) -> None:
    """In create_tables' transaction: store the dataset of a new schema; refuse another."""
    requested = Dataset.of(settings)
    conn.execute(
        f"INSERT INTO pipeline_dataset ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT DO NOTHING",
        dataclasses.astuple(requested),
    )
    refuse_other_dataset(settings, stored_dataset(conn))
