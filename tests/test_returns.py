"""Returns: drawn with their sale day, published once both days are loaded. Real PostgreSQL
where the database is part of the behaviour; the generator's statistics at the numpy level."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from conftest import generate_day
from customer_pipeline.database import connect
from customer_pipeline.generate.calendar import transaction_count
from customer_pipeline.generate.catalog import CATEGORIES, RETURNS, STORE_TYPES
from customer_pipeline.generate.returns import block_returns, generate_return_chunks
from customer_pipeline.generate.stores import store_facts, zone_names
from customer_pipeline.generate.streams import blocks
from customer_pipeline.generate.transactions import block_lines, day_plan, transaction_chunks
from customer_pipeline.load import load_day
from customer_pipeline.metrics import (
    RETURNS_SQL,
    calculate_metrics,
    settle_returns,
    stored_metrics,
)
from customer_pipeline.returns import MAX_DELAY_DAYS
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from common import REFERENCE  # bench/ is not a package

SALE = dt.date(2026, 11, 20)
RETAIL, ONLINE = STORE_TYPES.index("Retail"), STORE_TYPES.index("Online")
CLOTHING, FOOD = ([c.name for c in CATEGORIES].index(name) for name in ("Clothing", "Food"))
#: Every row of the published returns, in one digest.
RETURNS_DIGEST = "SELECT count(*), md5(string_agg(r::text, '|' ORDER BY return_id)) FROM returns r"


def utc_day(column: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date"


@pytest.fixture
def busy(settings: Settings) -> Settings:
    """Days of 5,000 lines: a couple of hundred returns each."""
    return settings.replace(transactions=5_000)


def load(settings: Settings, folder: Path, *days: dt.date) -> None:
    create_tables(settings)
    for day in days:
        load_day(settings, day, generate_day(settings, folder / f"{day}-{len(days)}", day))


def a_return_day(db: psycopg.Connection, sale: dt.date = SALE) -> dt.date:
    """The return day that most of the sale day's scheduled returns fall on."""
    return db.execute(
        f"SELECT {utc_day('return_date')} FROM returns_scheduled WHERE business_date = %s "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        [sale],
    ).fetchone()[0]


@pytest.fixture
def second_schema(busy: Settings, database_url: str) -> Iterator[Settings]:
    """The same settings on another, empty schema (dropped afterwards)."""
    other = busy.replace(db_schema=f"{busy.db_schema}_b")
    yield other
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other.db_schema))
        )


def in_schema(db: psycopg.Connection, schema: str, query: str) -> tuple:
    db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return db.execute(query).fetchone()


# -- what a sale day generates --------------------------------------------------------------


def test_refunds_quantities_and_dates_fit_the_returned_lines(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    scheduled, matched, over_refunded, too_many, too_early = db.execute(
        "SELECT (SELECT count(*) FROM returns_scheduled), count(t.transaction_id), "
        "count(*) FILTER (WHERE r.refund_amount * t.quantity > t.transaction_amount * r.quantity), "
        "count(*) FILTER (WHERE r.quantity > t.quantity), "
        "count(*) FILTER (WHERE r.return_date <= t.transaction_date) "
        "FROM returns_scheduled r JOIN transactions t USING (transaction_id, business_date)"
    ).fetchone()
    assert scheduled == matched > 100  # every return is one of the day's lines
    assert (over_refunded, too_many, too_early) == (0, 0, 0)
    partial, discounted = db.execute(
        "SELECT count(*) FILTER (WHERE r.quantity < t.quantity), "
        "count(*) FILTER (WHERE t.discount_amount > 0) "
        "FROM returns_scheduled r JOIN transactions t USING (transaction_id, business_date)"
    ).fetchone()
    assert partial > 0 and discounted > 0  # both cases are exercised


def test_a_whole_line_returned_refunds_what_was_paid(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    whole, exact = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE r.refund_amount = t.transaction_amount) "
        "FROM returns_scheduled r JOIN transactions t USING (transaction_id, business_date) "
        "WHERE r.quantity = t.quantity"
    ).fetchone()
    assert whole == exact > 0


def test_online_returns_go_back_to_the_shop_retail_ones_mostly_to_the_store(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    rows = db.execute(
        "SELECT s.store_type, count(*), count(*) FILTER (WHERE r.store_id = t.store_id), "
        "count(*) FILTER (WHERE b.store_type = s.store_type) "
        "FROM returns_scheduled r JOIN transactions t USING (transaction_id, business_date) "
        "JOIN stores s ON s.store_id = t.store_id JOIN stores b ON b.store_id = r.store_id "
        "GROUP BY 1"
    ).fetchall()
    by_type = {kind: (count, same, same_type) for kind, count, same, same_type in rows}
    count, same, same_type = by_type["Online"]
    assert count > 20 and same == count
    count, same, same_type = by_type["Retail"]
    assert count > 50 and same_type == count and 0.7 < same / count < 0.97


def test_delays_mostly_within_30_days_with_a_tail_beyond_60() -> None:
    settings = Settings().replace(transactions=40_000)
    delays = np.concatenate([r.delay for r in day_returns(settings, SALE)])
    assert len(delays) > 1_000
    assert delays.min() >= 1 and delays.max() <= 90
    assert np.mean(delays <= 30) > 0.8
    assert np.mean(delays <= 14) > 0.5
    assert 0.01 < np.mean(delays > 60) < 0.1


def day_returns(settings: Settings, day: dt.date):
    plan = day_plan(settings, day)
    for block, keep in blocks(0, transaction_count(settings, day)):
        found = block_returns(settings, day, plan, block)
        yield select(found, found.line < keep.stop)


def select(found, mask):
    return type(found)(**{name: getattr(found, name)[mask] for name in found.__dataclass_fields__})


def rates_by_category_and_channel(settings: Settings, days: list[dt.date]) -> tuple:
    """(returned lines, lines sold), each (category, store type), over the days."""
    returned = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
    sold = np.zeros_like(returned)
    for day in days:
        plan = day_plan(settings, day)
        for block, keep in blocks(0, transaction_count(settings, day)):
            lines = block_lines(settings, day, plan, block)
            category = plan.product_category[lines.product][keep]
            online = plan.store_online[lines.store[lines.basket_of_line]][keep].astype(int)
            np.add.at(sold, (category, online), 1)
            found = block_returns(settings, day, plan, block)
            kept = found.line < keep.stop
            np.add.at(returned, (found.category[kept], found.online[kept].astype(int)), 1)
    return returned, sold


def expected_rates() -> np.ndarray:
    return np.array([RETURNS["rates"][c.name] for c in CATEGORIES])


def assert_rates_as_specified(returned: np.ndarray, sold: np.ndarray) -> None:
    rates = returned / sold
    expected = expected_rates()
    sigma = np.sqrt(expected * (1 - expected) / sold)
    assert np.all(np.abs(rates - expected) <= 4 * sigma + 0.002), (rates, expected)
    # clothes bought online come back most, food almost never; online more than in a shop
    assert rates.argmax() == np.ravel_multi_index((CLOTHING, ONLINE), rates.shape)
    assert rates[CLOTHING, ONLINE] > 2 * rates[CLOTHING, RETAIL]
    assert rates[FOOD].max() < 0.01
    others = np.delete(rates, FOOD, axis=0)  # food's few returns are too noisy to order
    assert np.all(others[:, ONLINE] > others[:, RETAIL])


def test_rates_by_category_and_channel_at_the_default_sizes() -> None:
    days = [SALE + dt.timedelta(days=i) for i in range(28)]  # about 30,000 lines
    returned, sold = rates_by_category_and_channel(Settings(), days)
    assert sold.min() > 300
    assert_rates_as_specified(returned, sold)


def test_rates_by_category_and_channel_at_the_1m_scale() -> None:
    returned, sold = rates_by_category_and_channel(Settings().replace(**REFERENCE), [SALE])
    assert sold.sum() > 1_000_000
    assert_rates_as_specified(returned, sold)
    sigma = np.sqrt(expected_rates() / sold)
    assert np.all(np.abs(returned / sold - expected_rates()) <= 5 * sigma)  # tight at 1M


def test_a_sale_day_s_returns_do_not_depend_on_the_chunking(tmp_path: Path) -> None:
    texts = []
    for chunk_size in (10_000, 20_000):
        settings = Settings().replace(transactions=25_000, chunk_size=chunk_size)
        folder = tmp_path / str(chunk_size)
        folder.mkdir()
        chunks = range(len(transaction_chunks(settings, SALE)))
        files = list(generate_return_chunks(settings, folder, SALE, chunks))
        texts.append(b"".join(Path(f.path).read_bytes().split(b"\n", 1)[1] for f in files))
    assert texts[0] == texts[1] and texts[0].count(b"\n") > 500


def test_a_day_s_returns_made_beside_its_lines_are_those_made_alone(tmp_path: Path) -> None:
    """generate_day draws each block's lines once for its transactions and its returns:
    the returns files are those of generate_return_chunks (the DAG's tasks), byte for byte
    (a chunk that cuts blocks in two included)."""
    settings = Settings().replace(transactions=25_000, chunk_size=15_000)
    chunks = range(len(transaction_chunks(settings, SALE)))
    beside = [f for f in generate_day(settings, tmp_path / "day", SALE) if f.table == "returns"]
    (tmp_path / "alone").mkdir()
    alone = list(generate_return_chunks(settings, tmp_path / "alone", SALE, chunks))
    assert len(beside) == len(alone) == len(chunks) > 1
    for made, expected in zip(beside, alone, strict=True):
        assert made.rows == expected.rows > 100
        assert Path(made.path).read_bytes() == Path(expected.path).read_bytes()


# -- publication ----------------------------------------------------------------------------


def test_a_sale_day_alone_publishes_nothing_from_the_future(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    assert db.execute("SELECT count(*) FROM returns_scheduled").fetchone()[0] > 100
    assert db.execute("SELECT count(*) FROM returns").fetchone()[0] == 0


def test_the_return_day_s_load_publishes_that_day_s_returns(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    published = db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {utc_day('return_date')} <> %s) FROM returns",
        [day],
    ).fetchone()
    due = db.execute(
        f"SELECT count(*) FROM returns_scheduled WHERE {utc_day('return_date')} = %s", [day]
    ).fetchone()[0]
    assert published == (due, 0) and due > 0


def test_loading_in_either_order_gives_the_same_returns(
    busy: Settings, second_schema: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path / "a", SALE)
    day = a_return_day(db)
    load(busy, tmp_path / "a", day)
    load(second_schema, tmp_path / "b", day)
    assert in_schema(db, second_schema.db_schema, RETURNS_DIGEST)[0] == 0  # its sale day is not
    load(second_schema, tmp_path / "b", SALE)
    forwards = in_schema(db, busy.db_schema, RETURNS_DIGEST)
    backwards = in_schema(db, second_schema.db_schema, RETURNS_DIGEST)
    assert forwards == backwards and forwards[0] > 0


def test_nothing_published_is_dated_on_a_day_not_loaded(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    days = [SALE - dt.timedelta(days=3), SALE, SALE + dt.timedelta(days=2)]
    load(busy, tmp_path, *days)
    published, outside = db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {utc_day('return_date')} <> ALL(%s) "
        "OR business_date <> ALL(%s)) FROM returns",
        [days, days],
    ).fetchone()
    assert published > 0 and outside == 0


def test_a_rerun_of_either_day_changes_nothing(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    before = db.execute(RETURNS_DIGEST).fetchone()
    load(busy, tmp_path / "again", SALE, day)
    assert db.execute(RETURNS_DIGEST).fetchone() == before
    assert before[0] > 0


def test_a_failed_reload_keeps_the_published_returns(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """A return of a line that does not exist fails the swap's publication: the whole swap
    rolls back (the day's partitions and the returns as they were)."""
    load(busy, tmp_path, SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    before = db.execute(RETURNS_DIGEST).fetchone()
    lines = db.execute("SELECT count(*) FROM transactions").fetchone()
    files = generate_day(busy, tmp_path / "again", SALE)
    returns = next(f for f in files if f.table == "returns")
    rows = Path(returns.path).read_text().splitlines(keepends=True)
    due = next(i for i, row in enumerate(rows) if f",{day}T" in row)
    fields = rows[due].split(",")
    fields[1] = str(uuid.uuid4())  # a return due on a loaded day, of a line that never was
    rows[due] = ",".join(fields)
    Path(returns.path).write_text("".join(rows))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        load_day(busy, SALE, files)
    assert db.execute(RETURNS_DIGEST).fetchone() == before
    assert db.execute("SELECT count(*) FROM transactions").fetchone() == lines
    stages = db.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename LIKE '%%_stage'"
    ).fetchone()[0]
    assert stages == 0


def test_a_failed_publication_of_the_day_s_returns_keeps_the_previous_state(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """A return due on the day whose line is gone fails the check of the day's partition
    of returns when it is attached: the whole swap rolls back."""
    load(busy, tmp_path, SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    before = db.execute(RETURNS_DIGEST).fetchone()
    db.execute(
        "UPDATE returns_scheduled SET transaction_id = gen_random_uuid() WHERE return_id = "
        "(SELECT return_id FROM returns_scheduled "
        f"WHERE {utc_day('return_date')} = %s ORDER BY return_id LIMIT 1)",
        [day],
    )
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        load(busy, tmp_path / "again", day)
    assert db.execute(RETURNS_DIGEST).fetchone() == before


# -- KPIs -----------------------------------------------------------------------------------


def test_return_kpis_equal_an_independent_recomputation(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    load(busy, tmp_path, SALE - dt.timedelta(days=1), SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    metrics = calculate_metrics(busy, day)
    count, refunds = db.execute(
        f"SELECT count(*), coalesce(sum(refund_amount), 0) FROM returns "
        f"WHERE {utc_day('return_date')} = %s",
        [day],
    ).fetchone()
    sales = db.execute(
        "SELECT sum(transaction_amount) FROM transactions WHERE business_date = %s", [day]
    ).fetchone()[0]
    assert count > 0
    assert metrics["returns_count"] == count
    assert Decimal(str(metrics["refund_total"])) == refunds
    assert Decimal(str(metrics["net_sales"])) == sales - refunds
    assert Decimal(str(metrics["total_sales"])) - Decimal(str(metrics["refund_total"])) == Decimal(
        str(metrics["net_sales"])
    )
    rates = dict(
        db.execute(
            "SELECT p.category, round((SELECT count(*) FROM returns r, transactions l "
            f"WHERE {utc_day('r.return_date')} = %(day)s AND l.transaction_id = r.transaction_id "
            "AND l.business_date = r.business_date AND l.product_id IN "
            "(SELECT product_id FROM products WHERE category = p.category))::numeric "
            "/ count(*), 4) "
            "FROM transactions t JOIN products p USING (product_id) "
            "WHERE t.business_date = %(day)s GROUP BY p.category",
            {"day": day},
        ).fetchall()
    )
    assert metrics["return_rate_by_category"] == {k: float(v) for k, v in rates.items()}
    assert sum(v > 0 for v in rates.values()) >= 2
    stored = db.execute(
        "SELECT metrics->>'net_sales' FROM daily_metrics WHERE business_date = %s", [day]
    ).fetchone()[0]
    assert Decimal(stored) == sales - refunds


def test_a_late_sale_day_restates_the_return_day_s_stored_kpis(
    busy: Settings, second_schema: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The return day loaded and its KPIs stored first, its sale day after: that load
    restates the return day's returns KPIs (and their baselines) in its own transaction,
    so the stored document is what calculating the day now gives, refunds, net sales and
    their baselines included (its Customers section is as it was: see the README)."""
    load(busy, tmp_path / "a", SALE)
    day = a_return_day(db)  # found on the first schema; the scenario runs on the second
    load(second_schema, tmp_path / "b", day)
    early = calculate_metrics(second_schema, day)
    assert early["returns_count"] == 0
    load(second_schema, tmp_path / "b", SALE)
    restated = stored_metrics(second_schema, day)
    assert restated["returns_count"] > 0
    assert Decimal(str(restated["total_sales"])) - Decimal(
        str(restated["refund_total"])
    ) == Decimal(str(restated["net_sales"]))
    assert restated["net_sales"] < early["net_sales"]
    # the Customers section counts the sale day's buyers once recalculated: not a return KPI
    fresh = json.loads(json.dumps(calculate_metrics(second_schema, day)))
    assert restated.pop("customers") != fresh.pop("customers")
    assert restated == fresh


def test_returns_published_after_the_kpis_snapshot_are_settled_once_stored(
    busy: Settings,
    second_schema: Settings,
    db: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sale day's load that publishes returns on a day while that day's KPIs are being
    calculated (after their snapshot, before they are stored: here, the load's own
    restatement left out) leaves a stale document; calculate_metrics' last step finds the
    returns published now differ from the document's and restates it."""
    load(busy, tmp_path / "a", SALE)
    day = a_return_day(db)
    load(second_schema, tmp_path / "b", day)
    early = calculate_metrics(second_schema, day)
    monkeypatch.setattr("customer_pipeline.load.restate_returns", lambda *_: [])
    load(second_schema, tmp_path / "b", SALE)
    assert stored_metrics(second_schema, day)["returns_count"] == 0  # stale
    with connect(second_schema, autocommit=True) as conn:
        assert settle_returns(conn, second_schema, day, early)
        settled = stored_metrics(second_schema, day)
        assert settled["returns_count"] > 0
        assert not settle_returns(conn, second_schema, day, settled)


def rows_read(node: dict, prefix: str) -> int:
    """Rows the plan's scans of relations named prefix... returned (each loop's)."""
    own = (
        node["Actual Rows"] * node["Actual Loops"]
        if node.get("Relation Name", "").startswith(prefix)
        else 0
    )
    return own + sum(rows_read(child, prefix) for child in node.get("Plans", ()))


def test_the_return_kpis_probe_each_return_s_line_not_every_sale_day(
    busy: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The day's returns find their lines one by one (one line read per return), each in
    its sale day's partition, even where the planner would rather join (nested loops
    priced out): a join reads every line of the sale days a return may come from, a cost
    growing with the history, not with the day's returns."""
    load(busy, tmp_path, SALE - dt.timedelta(days=1), SALE)
    day = a_return_day(db)
    load(busy, tmp_path, day)
    params = {"day": day, "max_delay": MAX_DELAY_DAYS}
    with db.transaction():
        db.execute("SET LOCAL enable_nestloop = off")
        (plan,) = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + RETURNS_SQL, params).fetchone()[0]
    returned = db.execute(
        f"SELECT count(*) FROM returns WHERE {utc_day('return_date')} = %s", [day]
    ).fetchone()[0]
    assert returned > 0
    assert rows_read(plan["Plan"], "transactions_") == returned


def test_a_day_without_returns_has_zero_refunds(busy: Settings, tmp_path: Path) -> None:
    load(busy, tmp_path, SALE)
    metrics = calculate_metrics(busy, SALE)
    assert (metrics["returns_count"], metrics["refund_total"]) == (0, 0.0)
    assert metrics["net_sales"] == metrics["total_sales"] > 0
    assert set(metrics["return_rate_by_category"].values()) == {0.0}


def local_hours_outside_opening(settings: Settings, days: list[dt.date]) -> tuple[float, int]:
    """(share of retail returns outside their store's local opening hours, how many of them
    came back after a change of the clocks since their sale)."""
    stores = store_facts(settings.seed, settings.locale, settings.sizes.stores)
    zones = [zoneinfo.ZoneInfo(name) for name in zone_names(settings.locale)]
    outside = total = crossed = 0
    for sale in days:
        midnight = dt.datetime(sale.year, sale.month, sale.day, tzinfo=dt.UTC)
        for found in day_returns(settings, sale):
            retail = ~stores.online[found.store]
            for store, second in zip(found.store[retail], found.second[retail], strict=True):
                zone = zones[stores.zone[store]]
                moment = midnight + dt.timedelta(seconds=int(second))
                local = moment.astimezone(zone)
                crossed += local.utcoffset() != midnight.astimezone(zone).utcoffset()
                outside += not stores.open_hour[store] <= local.hour < stores.close_hour[store]
                total += 1
    return outside / total, crossed


@pytest.mark.parametrize("scale", ["default", "1M"])
def test_retail_returns_come_in_local_opening_hours_across_a_change_of_the_clocks(
    scale: str,
) -> None:
    """Sales in the weeks before the US clocks go forward (8 March 2026), returns after."""
    if scale == "default":
        settings = Settings().replace(transactions=20_000)
        days = [dt.date(2026, 2, 20) + dt.timedelta(days=i) for i in range(14)]
    else:
        settings, days = Settings().replace(**REFERENCE), [dt.date(2026, 2, 27)]
    share, crossed = local_hours_outside_opening(settings, days)
    assert crossed > 500  # enough returns after the change to see an hour's shift
    assert share <= 0.001, share
