"""One schema, one dataset; the pipeline touches only the tables it made."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from typer.testing import CliRunner

from customer_pipeline.cli import app
from customer_pipeline.dataset import Dataset, stored_dataset
from customer_pipeline.errors import ConfigError
from customer_pipeline.schema import SCHEMA_VERSION, TABLES, create_tables
from customer_pipeline.settings import Settings

DAY = "2026-11-20"


def day_rows(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT t.transaction_id, p.product_name, c.last_name FROM transactions t "
        "JOIN products p USING (product_id) JOIN customers c USING (customer_id) ORDER BY 1"
    ).fetchall()


@pytest.fixture
def filled(cli: CliRunner, db: psycopg.Connection) -> list[tuple]:
    """The schema after one run of DAY with the defaults; that day's rows."""
    assert cli.invoke(app, ["run", "--date", DAY, "--transactions", "200"]).exit_code == 0
    return day_rows(db)


@pytest.mark.usefixtures("filled")
def test_the_first_run_records_the_dataset(db: psycopg.Connection) -> None:
    assert stored_dataset(db) == Dataset.of(Settings())


@pytest.mark.parametrize(
    ("args", "difference"),
    [
        (["--seed", "7"], "seed 42 -> 7"),
        (["--locale", "de_DE"], "locale en_US -> de_DE"),
        (["--customers", "120", "--products", "60"], "customers 2000 -> 120; products 50 -> 60"),
        (["--stores", "3"], "stores 20 -> 3"),
    ],
)
def test_a_run_of_another_dataset_is_refused_before_any_write(
    cli: CliRunner, db: psycopg.Connection, filled: list, args: list[str], difference: str
) -> None:
    result = cli.invoke(app, ["run", "--date", "2026-11-21", *args])
    assert result.exit_code == 2
    assert difference in result.stderr
    assert "another DATABASE_SCHEMA" in result.stderr and "--reset" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert day_rows(db) == filled
    assert db.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == 1


@pytest.mark.usefixtures("filled")
def test_the_days_volume_may_change(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "--date", "2026-11-21", "--transactions", "300"])
    assert result.exit_code == 0, result.stderr


@pytest.mark.usefixtures("filled")
def test_a_reset_starts_another_dataset(cli: CliRunner, db: psycopg.Connection) -> None:
    result = cli.invoke(app, ["run", "--date", DAY, "--seed", "7", "--reset", "--yes"])
    assert result.exit_code == 0, result.stderr
    assert stored_dataset(db).seed == 7
    assert db.execute("SELECT count(DISTINCT business_date) FROM transactions").fetchone()[0] == 1


def test_create_tables_refuses_another_dataset_in_its_own_transaction(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    with pytest.raises(ConfigError, match="seed 42 -> 8"):
        create_tables(settings.replace(seed=8))
    assert stored_dataset(db).seed == 42


@pytest.mark.parametrize("kind", ["TABLE", "VIEW"])
def test_a_foreign_object_with_a_pipeline_name_is_named_and_never_touched(
    settings: Settings, db: psycopg.Connection, kind: str
) -> None:
    db.execute(f"CREATE SCHEMA {settings.db_schema}")
    body = "(note text)" if kind == "TABLE" else "AS SELECT 1 AS note"
    db.execute(f"CREATE {kind} transactions {body}")
    for reset in (False, True):
        with pytest.raises(ConfigError, match=r"transactions is not one of customer-pipeline's"):
            create_tables(settings, reset=reset)
    assert db.execute("SELECT to_regclass('transactions')").fetchone()[0] is not None


def test_a_reset_stops_at_a_users_view_over_a_pipeline_table(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    db.execute("CREATE VIEW my_customers AS SELECT customer_id FROM customers")
    with pytest.raises(ConfigError, match=r"--reset refused: view my_customers depends on"):
        create_tables(settings, reset=True)
    assert db.execute("SELECT to_regclass('my_customers')").fetchone()[0] is not None
    assert all(db.execute("SELECT to_regclass(%s)", [t]).fetchone()[0] for t in TABLES)


def test_a_reset_leaves_a_users_other_tables_alone(
    settings: Settings, db: psycopg.Connection
) -> None:
    create_tables(settings)
    db.execute("CREATE TABLE my_notes (note text)")
    create_tables(settings, reset=True)
    assert db.execute("SELECT to_regclass('my_notes')").fetchone()[0] is not None


def test_every_pipeline_table_bears_the_mark(settings: Settings, db: psycopg.Connection) -> None:
    create_tables(settings)
    marks = db.execute(
        "SELECT DISTINCT obj_description(to_regclass(t), 'pg_class') FROM unnest(%s::text[]) t",
        [list(TABLES)],
    ).fetchall()
    assert marks == [(f"customer-pipeline schema {SCHEMA_VERSION}",)]


def test_volume_chunking_and_delivery_are_not_part_of_the_dataset(settings: Settings) -> None:
    changed = settings.replace(transactions=5, chunk_size=20_000, email_backend="smtp")
    assert Dataset.of(changed) == Dataset.of(settings)
    assert Dataset.of(settings).history_start == dt.date(2020, 1, 1)


def test_the_value_pools_are_part_of_the_dataset(settings: Settings) -> None:
    from customer_pipeline.generate.pools import pools_version

    assert pools_version("de_DE") in Dataset.of(settings.replace(locale="de_DE")).generator
