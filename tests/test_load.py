"""Loading a day: COPY, atomic replacement, locking. Real PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import dumps, expected_rows, generate_day, present_rows
from customer_pipeline.load import load_day, staged_day
from customer_pipeline.schema import TABLES, create_tables
from customer_pipeline.settings import Settings
from customer_pipeline.tables import GENERATED

DAY = dt.date(2026, 11, 20)


def day_totals(db: psycopg.Connection, day: dt.date = DAY) -> tuple:
    return db.execute(
        "SELECT count(*), sum(transaction_amount), sum(quantity), "
        "count(DISTINCT customer_id) FROM transactions WHERE business_date = %s",
        [day],
    ).fetchone()


def table_names(db: psycopg.Connection) -> set[str]:
    return {
        r[0]
        for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    }


@pytest.fixture
def loaded(settings: Settings, tmp_path: Path) -> list:
    create_tables(settings)
    files = generate_day(settings, tmp_path / "files", DAY)
    load_day(settings, DAY, files)
    return files


def test_create_tables_is_idempotent(settings: Settings, db: psycopg.Connection) -> None:
    create_tables(settings)
    create_tables(settings)
    assert set(TABLES) <= table_names(db)


@pytest.mark.usefixtures("loaded")
def test_reset_drops_and_recreates(settings: Settings, db: psycopg.Connection) -> None:
    assert day_totals(db)[0] == expected_rows(settings, DAY)["transactions"]
    create_tables(settings, reset=True)
    assert day_totals(db)[0] == 0
    assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    assert "transactions_20261120" not in table_names(db)


def test_load_puts_every_row_in(loaded: list, db: psycopg.Connection) -> None:
    expected = {f.table: 0 for f in loaded}
    for f in loaded:
        expected[f.table] += f.rows
    expected["returns_scheduled"] = expected.pop("returns")  # held until their day is loaded
    for table, rows in expected.items():
        history = table in GENERATED and GENERATED[table].history  # the day's versions
        query = (
            f"SELECT count(*) FROM {history} WHERE valid_from >= '{DAY}T00:00Z' "
            f"AND valid_from < '{DAY + dt.timedelta(days=1)}T00:00Z'"
            if history
            else f"SELECT count(*) FROM {table}"
        )
        assert db.execute(query).fetchone()[0] == rows
    assert "transactions_20261120" in table_names(db)


def indexes(db: psycopg.Connection) -> set[tuple[str, str]]:
    return set(
        db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s)",
            [[name for table in GENERATED.values() for name in (table.name, table.history)]],
        ).fetchall()
    )


def test_the_first_load_keeps_the_schema_s_indexes(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    create_tables(settings)
    created = indexes(db)
    load_day(settings, DAY, generate_day(settings, tmp_path / "files", DAY))  # in bulk
    assert indexes(db) == created
    assert db.execute("SELECT count(*) FROM customers_history").fetchone()[0] > 0


def test_rerun_replaces_the_day(settings: Settings, loaded: list, db: psycopg.Connection) -> None:
    before = day_totals(db)
    counts = load_day(settings, DAY, loaded)
    assert counts == expected_rows(settings, DAY)
    assert day_totals(db) == before
    customers = present_rows(settings, DAY)["customers"]
    assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == customers


@pytest.mark.usefixtures("loaded")
def test_dimensions_are_upserted_changed_rows_only(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The same customers (ids) with other names: updated in place; untouched rows keep their
    row version; a new customer is inserted."""
    versions = dict(db.execute("SELECT customer_id, xmin::text FROM customers").fetchall())
    names = dict(db.execute("SELECT customer_id, last_name FROM customers").fetchall())
    german = settings.replace(locale="de_DE")
    files = generate_day(german, tmp_path / "german", DAY)
    load_day(german, DAY, files)
    after = dict(db.execute("SELECT customer_id, last_name FROM customers").fetchall())
    assert after.keys() == names.keys()
    assert sum(after[k] != names[k] for k in names) > len(names) // 2

    load_day(german, DAY, files)  # identical rows: nothing rewritten
    again = dict(db.execute("SELECT customer_id, xmin::text FROM customers").fetchall())
    load_day(german, DAY, files)
    assert dict(db.execute("SELECT customer_id, xmin::text FROM customers").fetchall()) == again
    assert again != versions

    next_day = DAY + dt.timedelta(days=90)  # with some sign-ups since
    more = generate_day(german, tmp_path / "next", next_day)
    load_day(german, next_day, more)
    count = db.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert count == present_rows(german, next_day)["customers"] > len(names)


@pytest.mark.usefixtures("loaded")
def test_serial_sequences_follow_explicit_ids(db: psycopg.Connection) -> None:
    new_id = db.execute(
        "INSERT INTO stores (store_name, location, store_type, open_hour, close_hour, timezone) "
        "VALUES ('New', 'Here', 'Retail', 9, 18, 'America/Chicago') RETURNING store_id"
    ).fetchone()[0]
    assert new_id == 21


def test_failure_half_way_keeps_the_previous_day(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    settings = settings.replace(transactions=25_000, chunk_size=10_000)
    create_tables(settings)
    files = generate_day(settings, tmp_path / "good", DAY)
    load_day(settings, DAY, files)
    before, tables = day_totals(db), dumps(db)

    other = generate_day(settings.replace(seed=99), tmp_path / "bad", DAY)
    last = Path(other[-1].path)
    last.write_text(last.read_text() + "not-a-uuid,2026-11-20,broken\n")
    with pytest.raises(psycopg.Error):
        load_day(settings, DAY, other)
    assert day_totals(db) == before
    assert dumps(db) == tables  # every table the load writes, histories and returns too
    assert not any(name.endswith("_stage") for name in table_names(db))
    # the dimensions were not touched either: the swap never started
    customers = present_rows(settings, DAY)["customers"]
    assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == customers


def test_rows_of_another_date_are_refused(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    create_tables(settings)
    files = generate_day(settings, tmp_path, DAY)
    with pytest.raises(psycopg.Error):
        load_day(settings, DAY + dt.timedelta(days=1), files)
    assert day_totals(db, DAY + dt.timedelta(days=1))[0] == 0


def test_missing_file_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    from customer_pipeline.errors import ConfigError

    create_tables(settings)
    files = generate_day(settings, tmp_path, DAY)
    Path(files[0].path).unlink()
    with pytest.raises(ConfigError, match="generated file missing"):
        load_day(settings, DAY, files)


def test_concurrent_loads_of_one_date_do_not_interleave(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    settings = settings.replace(transactions=30_000, chunk_size=10_000)
    create_tables(settings)
    files = generate_day(settings, tmp_path / "f", DAY)
    other_day = DAY + dt.timedelta(days=1)
    other_files = generate_day(settings, tmp_path / "g", other_day)
    errors: list[BaseException] = []

    def load(day: dt.date, fs: list) -> None:
        try:
            load_day(settings, day, fs)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(DAY, files)) for _ in range(3)]
    threads.append(threading.Thread(target=load, args=(other_day, other_files)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    today = expected_rows(settings, DAY)["transactions"]
    tomorrow = expected_rows(settings, other_day)["transactions"]
    assert today > 20_000
    assert day_totals(db)[0] == today
    assert day_totals(db, other_day)[0] == tomorrow
    assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] == today + tomorrow


def test_failure_in_the_swap_rolls_back_dimensions_too(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    create_tables(settings)
    load_day(settings, DAY, generate_day(settings, tmp_path / "good", DAY))
    before, tables = day_totals(db), dumps(db)

    other = generate_day(settings.replace(seed=99), tmp_path / "bad", DAY)
    customers = Path(other[0].path)
    lines = customers.read_text().splitlines(keepends=True)
    customers.write_text("".join(lines[:51]))  # few customers: orphans on attach
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        load_day(settings, DAY, other)
    assert day_totals(db) == before
    assert dumps(db) == tables  # the merged versions and the returns rolled back too
    customers = present_rows(settings, DAY)["customers"]
    assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == customers


def test_tables_of_another_version_are_refused_until_reset(
    settings: Settings, db: psycopg.Connection
) -> None:
    from customer_pipeline.errors import ConfigError

    create_tables(settings)
    db.execute("DROP TABLE pipeline_dataset")  # as version 2 left them: no dataset table,
    for table in TABLES[:-1]:  # only transactions marked,
        db.execute(f"COMMENT ON TABLE {table} IS NULL")
    db.execute(
        "DROP TABLE promotions, returns, returns_scheduled, quality_results, customer_days, "
        "customer_windows, customer_window_sources CASCADE"
    )
    db.execute("DROP TABLE customers_history, products_history")  # no histories either
    db.execute("COMMENT ON TABLE transactions IS 'customer-pipeline schema 2'")
    with pytest.raises(ConfigError, match="run once with --reset"):
        create_tables(settings)
    create_tables(settings, reset=True)
    create_tables(settings)


def test_names_never_fall_through_to_another_schema(settings: Settings) -> None:
    from customer_pipeline.database import connect

    with connect(settings) as conn:
        assert conn.execute("SHOW search_path").fetchone()[0].strip('"') == settings.db_schema


def test_a_role_that_owns_only_its_schema_can_create_the_tables(
    settings: Settings, db: psycopg.Connection, database_url: str
) -> None:
    from psycopg.conninfo import make_conninfo

    role = f"{settings.db_schema}_owner"
    db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        db.execute(f"CREATE SCHEMA {settings.db_schema} AUTHORIZATION {role}")
        assert not db.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", [role]
        ).fetchone()[0]
        create_tables(settings.replace(database_url=make_conninfo(database_url, user=role)))
        assert set(TABLES) <= table_names(db)
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {settings.db_schema} CASCADE")
        db.execute(f"DROP ROLE {role}")


def test_the_day_s_sums_are_made_beside_the_merge(
    settings: Settings, tmp_path: Path, db: psycopg.Connection
) -> None:
    """customer_days' GROUP BY of the day's lines runs on a second connection, from the
    stage, while the swap merges the dimensions: with the merge held up, the sums are
    already made (a committed table the swap then puts in place)."""
    create_tables(settings)
    files = generate_day(settings, tmp_path / "f", DAY)
    summed = f"customer_days_{DAY:%Y%m%d}_stage"
    assert staged_day(summed) == DAY  # a dead load's is dropped like its other stages
    blocker = psycopg.connect(db.info.dsn)
    blocker.execute(f"SET search_path TO {settings.db_schema}")
    blocker.execute("LOCK TABLE customers IN SHARE MODE")  # the merge's writes wait
    errors: list[BaseException] = []

    def load() -> None:
        try:
            load_day(settings, DAY, files)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        buyers = None
        while buyers is None and time.monotonic() < deadline and thread.is_alive():
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                buyers = db.execute(f"SELECT count(*) FROM {summed}").fetchone()[0]
            time.sleep(0.1)
        waiting = thread.is_alive()  # (reading customers now would queue behind the merge)
    finally:
        blocker.close()
        thread.join()
    assert errors == []
    assert buyers is not None and waiting  # summed while the merge waited
    assert buyers == day_totals(db)[3] > 0
    assert db.execute(
        "SELECT count(*), sum(lines) FROM customer_days WHERE business_date = %s", [DAY]
    ).fetchone() == (buyers, day_totals(db)[0])
    assert summed not in table_names(db)


#: a partition's foreign keys, each with the partitioned table's constraint it belongs to
_PARTITION_KEYS = """
SELECT c.confrelid::regclass::text, coalesce(p.conname, '')
FROM pg_constraint c LEFT JOIN pg_constraint p ON p.oid = c.conparentid
WHERE c.conrelid = %s::regclass AND c.contype = 'f' ORDER BY 1
"""


@pytest.mark.parametrize("merge_lines", [10**9, 0], ids=["checked before", "checked at attach"])
def test_each_line_s_foreign_key_is_the_partitioned_table_s(
    settings: Settings, tmp_path: Path, db: psycopg.Connection, monkeypatch, merge_lines: int
) -> None:
    """Whether the key to customers was checked on the lines before their attach (a merge
    join) or by the attach itself, the day's partition holds each of transactions' foreign
    keys once, as the partitioned table's (no second, orphan copy), its primary key is the
    index built before the swap, and a line whose customer does not exist is refused."""
    monkeypatch.setattr("customer_pipeline.load.MERGE_CHECK_LINES", merge_lines)
    create_tables(settings)
    files = generate_day(settings, tmp_path / "f", DAY)
    load_day(settings, DAY, files)
    keys = db.execute(_PARTITION_KEYS, [f"transactions_{DAY:%Y%m%d}"]).fetchall()
    parents = db.execute(
        "SELECT confrelid::regclass::text, conname FROM pg_constraint "
        "WHERE conrelid = 'transactions'::regclass AND contype = 'f' ORDER BY 1"
    ).fetchall()
    assert keys == parents and len(keys) == 4
    # one index, the primary key's, a partition of transactions' (the attach built none)
    assert db.execute(
        "SELECT i.indisprimary, p.inhparent::regclass::text FROM pg_index i "
        "JOIN pg_inherits p ON p.inhrelid = i.indexrelid WHERE i.indrelid = %s::regclass",
        [f"transactions_{DAY:%Y%m%d}"],
    ).fetchall() == [(True, "transactions_pkey")]
    lines = next(f for f in files if f.table == "transactions")
    text = Path(lines.path).read_text().splitlines()
    first = text[1].split(",")
    first[3] = "00000000-0000-4000-8000-000000000000"  # customer_id: nobody's
    Path(lines.path).write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        load_day(settings, DAY, files)
