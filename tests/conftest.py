"""Shared fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), one schema per test."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from customer_pipeline.generate.day import generate_day  # noqa: F401 (the tests' one import)
from customer_pipeline.settings import Settings

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"

# The cache folder (Settings.cache_dir: compiled report templates) is the user's; the tests
# keep theirs in a folder of their own, shared by the session (and its DAG runs), deleted after.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="customer-pipeline-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)


#: Modules that start a whole Airflow (its API server, scheduler, DAG processor, workers):
#: `make test` runs them in one worker process, one after the other, never side by side on
#: the same cores.
WHOLE_AIRFLOW = {"test_airflow_standalone", "test_celery"}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook (make test runs it)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # -> xdist's scheduler
    """Under --dist loadscope, each module's tests in one worker (they share its module
    fixtures), and the WHOLE_AIRFLOW modules in the same one. (xdist's loadgroup marks
    would say the same, but xdist 3.8 cannot apply them under pytest 9.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "whole-airflow" if Path(module).stem in WHOLE_AIRFLOW else module

    return ByModule(config, log)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """TEST_DATABASE_URL, or an embedded PostgreSQL started (and deleted) for this session.

    Its data lives in a folder of its own, not under pytest's rotating tmp folders, which
    concurrent pytest sessions prune.
    """
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="customer-pipeline-pg-")), cleanup_mode="delete"
        )
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    """A fresh, empty schema, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def settings(database_url: str, schema: str, tmp_path: Path) -> Settings:
    """Settings on the test database and schema, files under tmp_path, defaults otherwise."""
    return Settings(
        database_url=database_url,
        db_schema=schema,
        work_dir=tmp_path / "work",
        outbox_dir=tmp_path / "outbox",
    ).validate()


@pytest.fixture
def db(database_url: str, schema: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test schema, for independent checks."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        yield conn


@pytest.fixture
def unreachable_smtp(settings: Settings) -> Settings:
    """The test settings with the smtp backend aimed at a port where nothing listens."""
    return settings.replace(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        email_from="reports@shop.test",
        email_to=("manager@shop.test",),
        email_retry_delay=0.01,
    )


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # -> typer.testing.CliRunner
    """A runner whose environment points the CLI at the test database and folders."""
    from typer.testing import CliRunner

    for name in ("EMAIL_BACKEND", "EMAIL_TO", "EMAIL_FROM", "SENDGRID_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("DATABASE_SCHEMA", settings.db_schema)
    monkeypatch.setenv("PIPELINE_WORK_DIR", str(settings.work_dir))
    monkeypatch.setenv("PIPELINE_OUTBOX_DIR", str(settings.outbox_dir))
    return CliRunner()


@pytest.fixture(scope="session")
def airflow_home() -> Iterator[Path]:
    """AIRFLOW_HOME in a folder of its own with a migrated metadata DB (`airflow db migrate`).

    Airflow reads its configuration when first imported: tests import it only after this
    fixture (never at module level). Tasks retry once, after a second.
    """
    assert "airflow.configuration" not in sys.modules, "airflow was imported before its setup"
    home = Path(tempfile.mkdtemp(prefix="customer-pipeline-airflow-"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_HOME", str(home))
        env.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
        env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        env.setenv("PIPELINE_TASK_RETRIES", "1")
        env.setenv("PIPELINE_RETRY_DELAY_SECONDS", "1")
        lineage = home / "openlineage" / "events.jsonl"  # as bin/airflow configures it
        lineage.parent.mkdir()
        transport = {"type": "file", "log_file_path": str(lineage), "append": True}
        env.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
        env.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "customer-pipeline")
        # the same events, emitted in a thread: not by a fork of this (large) process per event
        # (~0.1 s each); bin/airflow's fork is what test_airflow_standalone runs
        env.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield home
    shutil.rmtree(home, ignore_errors=True)


def expected_rows(settings: Settings, day) -> dict[str, int]:
    """Rows of each table that a run of `day` generates (customers and products: the day's
    versions; the calendar decides the others)."""
    import datetime as dt

    from customer_pipeline.generate import customer_changes, product_changes
    from customer_pipeline.generate.calendar import customers_through, transaction_count
    from customer_pipeline.generate.promotions import promotions_through

    signups = customers_through(settings, day) - customers_through(
        settings, day - dt.timedelta(days=1)
    )
    return {
        "customers": len(customer_changes.changed_on(settings, day)) + signups,
        "products": len(product_changes.changed_on(settings, day)),
        "stores": settings.sizes.stores,
        "promotions": len(promotions_through(settings, day)),
        "transactions": transaction_count(settings, day),
        "returns": returns_of_lines(settings, day),
    }


def returns_of_lines(settings: Settings, day) -> int:
    """How many returns the generator draws for the day's lines (of every block's rows)."""
    from customer_pipeline.generate.calendar import transaction_count
    from customer_pipeline.generate.returns import block_returns
    from customer_pipeline.generate.streams import blocks
    from customer_pipeline.generate.transactions import day_plan

    count = transaction_count(settings, day)
    plan = day_plan(settings, day) if count else None
    return sum(
        int(np.count_nonzero(block_returns(settings, day, plan, block).line < keep.stop))
        for block, keep in blocks(0, count)
    )


def present_rows(settings: Settings, day) -> dict[str, int]:
    """Rows of the current tables once `day` is loaded: every customer and product by then."""
    from customer_pipeline.generate.calendar import customers_through
    from customer_pipeline.generate.product_changes import products_through

    return {
        **expected_rows(settings, day),
        "customers": customers_through(settings, day),
        "products": products_through(settings, day),
    }


def day_fingerprint(db: psycopg.Connection, day) -> tuple:
    """Everything about a day's rows, order-independent, plus the customers they reference
    as they were when they bought (their version then, but for its valid_to: later days
    loaded end it)."""
    return db.execute(
        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY transaction_id)), "
        "md5(string_agg(DISTINCT (to_jsonb(c) - 'valid_to')::text, '|')) "
        "FROM transactions t JOIN customers_history c ON c.customer_id = t.customer_id "
        "AND c.valid_from <= t.transaction_date "
        "AND (c.valid_to IS NULL OR t.transaction_date < c.valid_to) "
        "WHERE business_date = %s",
        [day],
    ).fetchone()


def day_lines(settings: Settings, day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The day's lines as the generator makes them (no CSV): product (an index into the
    day plan's products on sale), cents paid, units."""
    from customer_pipeline.generate.calendar import transaction_count
    from customer_pipeline.generate.transactions import block_lines, day_plan, line_amounts

    plan, count = day_plan(settings, day), transaction_count(settings, day)
    lines = [block_lines(settings, day, plan, block) for block in range(plan.blocks)]
    product = np.concatenate([line.product for line in lines])[:count]
    quantity = np.concatenate([line.quantity for line in lines])[:count]
    cents, _, discount = line_amounts(settings, day, plan, product, quantity)
    return product, cents - discount, quantity


#: every table a day's load writes, with the order that makes a dump comparable
DUMPS = {
    "customers": "customer_id",
    "customers_history": "customer_id, valid_from",
    "products": "product_id",
    "products_history": "product_id, valid_from",
    "stores": "store_id",
    "promotions": "promotion_id",
    "transactions": "business_date, transaction_id",
    "customer_days": "business_date, customer_id",
    "returns_scheduled": "business_date, return_id",
    "returns": "return_date, return_id",
}


def dumps(db: psycopg.Connection, schema: str | None = None) -> dict[str, tuple]:
    """Per table a day's load writes: its row count and a digest of its rows, in order
    (schema: the connection's current one when None)."""
    found = {}
    for table, order in DUMPS.items():
        name = sql.Identifier(table) if schema is None else sql.Identifier(schema, table)
        found[table] = db.execute(
            sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY {})) FROM {} t").format(
                sql.SQL(order), name
            )
        ).fetchone()
    return found


def as_of(settings: Settings, day) -> dict[str, list[dict[str, str]]]:
    """Every customer and product as `day` ends (the version of each in force then), as
    rows of their files: what the day's files alone no longer hold (they hold versions)."""
    import csv
    import datetime as dt
    import io
    from importlib import import_module

    from customer_pipeline.generate.csvfile import format_rows
    from customer_pipeline.tables import VERSIONED

    found = {}
    for table in VERSIONED:
        module, function = (table.versions_before or "").split(":")
        blocks = getattr(import_module(module), function)(settings, day + dt.timedelta(days=1))
        data = b"".join(format_rows(columns).tobytes() for columns in blocks).decode()
        found[table.name] = list(csv.DictReader(io.StringIO(data), table.file_columns))
    return found


def read_csv(path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released by the kernel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
