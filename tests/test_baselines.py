"""Baselines, flags, volume checks and the Customers section on a real history: nine weeks
of days loaded into the embedded PostgreSQL, each figure against an independent SQL
recomputation."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import itertools
import math
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import generate_day
from customer_pipeline.baselines import MIN_WEEKS, Band, flagged
from customer_pipeline.customer_days import replace_day
from customer_pipeline.errors import QualityError
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics, stored_metrics
from customer_pipeline.pipeline import run_day
from customer_pipeline.quality import check_data_quality, failed_checks, signups_on
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

LAST = dt.date(2026, 6, 12)  # a Friday, nine weeks after FIRST, in no campaign
FIRST = LAST - dt.timedelta(weeks=9)
SIZES = {"customers": 1000, "transactions": 1000, "products": 50, "stores": 10}
#: What halving a day's baskets must move out of its band, and what it must not.
VOLUME_KPIS = {
    "transaction_count",
    "total_sales",
    "total_quantity_sold",
    "basket_count",
    "unique_customers",
    "returning_customers",
}
PER_BASKET_KPIS = {"average_transaction_amount", "average_basket_value", "items_per_basket"}


@pytest.fixture(scope="module")
def history(database_url: str) -> Iterator[Settings]:
    """FIRST .. LAST loaded and their KPIs calculated, day after day, in a schema of its own."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="baselines-") as folder:
        settings = Settings(
            database_url=database_url,
            db_schema=schema,
            work_dir=Path(folder) / "work",
            outbox_dir=Path(folder) / "outbox",
        ).replace(**SIZES)
        settings.validate()
        create_tables(settings)
        day = FIRST
        while day <= LAST:
            load_day(settings, day, generate_day(settings, Path(folder) / str(day), day))
            calculate_metrics(settings, day)
            day += dt.timedelta(days=1)
        yield settings
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def hdb(history: Settings, database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(history.db_schema)))
        yield conn


def independent_band(db: psycopg.Connection, day: dt.date, key: str) -> tuple | None:
    """(expected, low, high) recomputed in SQL from the stored documents: the median of the
    same weekday's values of the 8 weeks before, and the band's three widths."""
    found = [
        v
        for (v,) in db.execute(
            "SELECT metrics->%s FROM daily_metrics "
            "WHERE business_date IN (SELECT %s::date - 7 * k FROM generate_series(1, 8) k)",
            [key, day],
        ).fetchall()
    ]
    values = [float(v) for v in found]
    if len(values) < MIN_WEEKS:
        return None
    (median,) = db.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(%s::float8[]) v",
        [values],
    ).fetchone()
    (mad,) = db.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v - %s)) "
        "FROM unnest(%s::float8[]) v",
        [median, values],
    ).fetchone()
    half = max(4 * 1.4826 * mad, 0.2 * abs(median))
    low, high = median - half, median + half
    if all(isinstance(v, int) for v in found):  # a count, as the JSON document says
        mean = max(median, sum(values) / len(values), 1.0)
        low, high = min(low, poisson_tail(mean, 0.001)), max(high, poisson_tail(mean, 0.999))
    if key.startswith(("min_", "max_")):  # an extreme: the weeks' range is usual
        (smallest, largest) = db.execute(
            "SELECT min(v), max(v) FROM unnest(%s::float8[]) v", [values]
        ).fetchone()
        low, high = min(low, smallest), max(high, largest)
    return median, low, high


def poisson_tail(mean: float, p: float) -> int:
    """The p quantile of a Poisson count: its CDF summed from log-probabilities (the
    normal approximation for a large mean)."""
    if mean >= 100:
        return max(0, round(mean + statistics.NormalDist().inv_cdf(p) * mean**0.5))
    cdf = itertools.accumulate(
        math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1)) for k in range(1000)
    )
    return next(k for k, total in enumerate(cdf) if total >= p)


def delete_lines(db: psycopg.Connection, day: dt.date, chosen: str) -> None:
    """Delete the day's lines that the query `chosen` selects, and their returns first;
    summarize the day's customers again."""
    db.execute(f"CREATE TEMP TABLE gone AS {chosen}", {"day": day})
    db.execute(
        "DELETE FROM returns WHERE business_date = %s AND transaction_id IN (TABLE gone)", [day]
    )
    db.execute(
        "DELETE FROM transactions WHERE business_date = %s AND transaction_id IN (TABLE gone)",
        [day],
    )
    db.execute("DROP TABLE gone")
    replace_day(db, day)  # the day's customer summary follows its lines


@pytest.fixture
def restored(history: Settings, tmp_path: Path) -> Iterator[list[dt.date]]:
    """Days a test changes, loaded and calculated again after it (later loads publish
    their returns, which need the days' lines)."""
    changed: list[dt.date] = []
    yield changed
    for day in changed:
        load_day(history, day, generate_day(history, tmp_path / str(day), day))
        calculate_metrics(history, day)


def independent_flags(db: psycopg.Connection, day: dt.date) -> set[str]:
    (document,) = db.execute(
        "SELECT metrics FROM daily_metrics WHERE business_date = %s", [day]
    ).fetchone()
    out = set()
    for key, value in document.items():
        band = independent_band(db, day, key) if isinstance(value, int | float) else None
        if band and not band[1] - 1e-6 <= value <= band[2] + 1e-6:
            out.add(key)
    return out


def test_an_ordinary_day_has_no_flag(history: Settings, hdb: psycopg.Connection) -> None:
    document = stored_metrics(history, LAST)
    assert document is not None
    assert flagged(document["baselines"]) == []
    assert independent_flags(hdb, LAST) == set()
    assert {b["weeks"] for b in document["baselines"].values()} == {8}
    first = stored_metrics(history, FIRST + dt.timedelta(weeks=2))  # two weeks before it
    assert {b["flag"] for b in first["baselines"].values()} == {"not enough history"}


def test_every_baseline_equals_an_independent_sql_recomputation(
    history: Settings, hdb: psycopg.Connection
) -> None:
    document = stored_metrics(history, LAST)
    for key, found in document["baselines"].items():
        expected, low, high = independent_band(hdb, LAST, key)
        assert found["expected"] == pytest.approx(round(expected, 2), abs=0.006), key
        assert found["low"] == pytest.approx(round(low, 2), abs=0.006), key
        assert found["high"] == pytest.approx(round(high, 2), abs=0.006), key


@pytest.mark.parametrize("key", ["total_sales", "net_sales"])  # net sales: the headline's
def test_the_changes_equal_an_independent_recomputation(
    history: Settings, hdb: psycopg.Connection, key: str
) -> None:
    document = stored_metrics(history, LAST)
    sales = dict(
        hdb.execute(
            "SELECT business_date, (metrics->>%s)::numeric FROM daily_metrics", [key]
        ).fetchall()
    )
    today = float(sales[LAST])

    def change(before: dt.date) -> float:
        return round(100 * (today - float(sales[before])) / float(sales[before]), 2)

    found = document["baselines"][key]
    assert found["day_over_day"] == change(LAST - dt.timedelta(days=1))
    assert found["week_over_week"] == change(LAST - dt.timedelta(weeks=1))
    assert found["year_over_year"] is None  # no day 52 weeks before
    this = sum(float(v) for d, v in sales.items() if d.month == LAST.month and d.day <= LAST.day)
    last = sum(
        float(v) for d, v in sales.items() if d.month == LAST.month - 1 and d.day <= LAST.day
    )
    assert found["month_to_date"]["value"] == pytest.approx(this, abs=0.01)
    assert found["month_to_date"]["previous"] == pytest.approx(last, abs=0.01)
    assert found["month_to_date"]["change"] == round(100 * (this - last) / last, 2)
    assert document["baselines"]["average_basket_value"]["month_to_date"] is None  # an average


def assert_customers_section_recomputed(db: psycopg.Connection, day: dt.date) -> None:
    """The day's stored Customers section equals its recomputation from the lines."""
    section = stored_metrics_of(db, day)["customers"]
    rows = db.execute(
        "SELECT customer_id, business_date, sum(transaction_amount) FROM transactions "
        "WHERE business_date > %s::date - 90 AND business_date <= %s GROUP BY 1, 2",
        [day, day],
    ).fetchall()
    days: dict = {}
    for customer, bought, amount in rows:
        days.setdefault(customer, {})[bought] = amount
    recent = {c: [d for d in v if d > day - dt.timedelta(days=30)] for c, v in days.items()}
    buyers = [c for c, v in recent.items() if v]
    assert section["buyers"] == len(buyers)
    assert section["repeat_buyers"] == sum(1 for c in buyers if len(recent[c]) >= 2)
    created = dict(db.execute("SELECT customer_id, created_at FROM customers").fetchall())
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    new_from = end - dt.timedelta(days=30)

    def segment(customer) -> str:
        recency = (day - max(days[customer])).days
        count = len(days[customer])
        if recency < 14 and count >= 6:
            return "champions"
        if recency < 30 and count >= 3:
            return "loyal"
        if new_from <= created[customer] < end:
            return "new"
        if recency < 60 and count >= 3:
            return "at risk"
        return "lost" if recency >= 60 else "occasional"

    expected: dict = {}
    for customer in days:
        entry = expected.setdefault(segment(customer), [0, 0])
        entry[0] += 1
        entry[1] += sum(days[customer].values())
    for found in section["segments"]:
        customers, sales = expected.get(found["segment"], [0, 0])
        assert (found["customers"], found["sales"]) == (customers, float(sales))
    assert sum(s["customers"] for s in section["segments"]) == len(days)
    for cohort in section["cohorts"]:
        year, month = map(int, cohort["month"].split("-"))
        members = [
            c for c, at in created.items() if (at.year, at.month) == (year, month) and at < end
        ]
        assert cohort["signed_up"] == len(members), cohort
        assert cohort["buying"] == sum(1 for c in members if recent.get(c)), cohort
    assert [c["month"] for c in section["cohorts"]][-1] == f"{day:%Y-%m}"


def stored_metrics_of(db: psycopg.Connection, day: dt.date) -> dict:
    return db.execute(
        "SELECT metrics FROM daily_metrics WHERE business_date = %s", [day]
    ).fetchone()[0]


def test_the_customers_section_equals_an_independent_recomputation(
    hdb: psycopg.Connection,
) -> None:
    assert_customers_section_recomputed(hdb, LAST)


@pytest.fixture
def shuffled(settings: Settings, tmp_path: Path) -> Settings:
    """Six days to LAST loaded out of order, one of them twice, then LAST's KPIs."""
    small = settings.replace(**SIZES)
    create_tables(small)
    for back in (5, 0, 2, 4, 1, 3, 2):
        day = LAST - dt.timedelta(days=back)
        load_day(small, day, generate_day(small, tmp_path / f"{day}-{back}", day))
    calculate_metrics(small, LAST)
    return small


@pytest.mark.usefixtures("shuffled")
def test_the_customers_section_holds_for_days_loaded_out_of_order_and_again(
    db: psycopg.Connection,
) -> None:
    assert_customers_section_recomputed(db, LAST)
    section = stored_metrics_of(db, LAST)["customers"]
    assert section["repeat_buyers"] > 0  # the days loaded late count


def test_the_checks_figures_equal_an_independent_sql_recomputation(
    history: Settings, hdb: psycopg.Connection
) -> None:
    lines, baskets, sales, new, signups = hdb.execute(
        "SELECT count(*), count(DISTINCT basket_id), sum(transaction_amount), "
        " count(DISTINCT customer_id) FILTER ("
        "  WHERE (SELECT (created_at AT TIME ZONE 'UTC')::date FROM customers c"
        "         WHERE c.customer_id = t.customer_id) = t.business_date), "
        " (SELECT count(*) FROM customers WHERE (created_at AT TIME ZONE 'UTC')::date = %s) "
        "FROM transactions t WHERE business_date = %s",
        [LAST, LAST],
    ).fetchone()
    generated = {"transactions": lines, "products": 50, "stores": 10}
    found = {r.name: r.value for r in check_data_quality(history, LAST, generated)}
    assert found["transactions within the usual band of a Friday"] == lines
    assert found["baskets within the usual band of a Friday"] == baskets
    assert found["sales within the usual band of a Friday"] == float(sales)
    assert found["new customers within the usual band of a Friday"] == new
    assert found["customers signed up on the day"] == signups
    # the freshness check's expectation, the calendar's sign-ups, is what landed each day
    landed = dict(
        hdb.execute(
            "SELECT (created_at AT TIME ZONE 'UTC')::date, count(*) FROM customers "
            "WHERE created_at >= %s GROUP BY 1",
            [dt.datetime.combine(FIRST, dt.time(), tzinfo=dt.UTC)],
        ).fetchall()
    )
    assert sum(landed.values()) > 10
    day = FIRST
    while day <= LAST:
        assert signups_on(history, day) == landed.get(day, 0), day
        day += dt.timedelta(days=1)
    assert found["no orphan customer, product, store, promotion (validated foreign keys)"] == 4
    stored = stored_metrics(history, LAST)
    assert (stored["transaction_count"], stored["basket_count"], stored["new_customers"]) == (
        lines,
        baskets,
        new,
    )


# The tests below change days of the history (after the ones above have read it).
def test_half_the_baskets_removed_flags_the_volumes_and_nothing_else(
    history: Settings, hdb: psycopg.Connection, restored: list[dt.date]
) -> None:
    day = LAST - dt.timedelta(days=1)  # a Thursday
    restored.append(day)
    assert flagged(stored_metrics(history, day)["baselines"]) == []
    # every other basket by value: the half left is like the whole, only half as many
    delete_lines(
        hdb,
        day,
        "SELECT transaction_id FROM transactions WHERE business_date = %(day)s AND basket_id IN ("
        " SELECT basket_id FROM (SELECT basket_id, row_number() OVER ("
        "  ORDER BY sum(transaction_amount), basket_id) AS n FROM transactions"
        "  WHERE business_date = %(day)s GROUP BY basket_id) b WHERE n %% 2 = 0)",
    )
    flags = set(flagged(calculate_metrics(history, day)["baselines"]))
    assert flags == independent_flags(hdb, day)
    assert flags >= VOLUME_KPIS
    assert not flags & PER_BASKET_KPIS
    assert stored_metrics(history, day)["baselines"]["transaction_count"]["flag"] == "below"


def test_the_checks_warn_on_a_drop_and_their_results_are_stored(
    history: Settings, hdb: psycopg.Connection, restored: list[dt.date]
) -> None:
    day = LAST - dt.timedelta(days=2)  # a Wednesday
    restored.append(day)
    generated = {
        "transactions": hdb.execute(
            "SELECT count(*) FROM transactions WHERE business_date = %s", [day]
        ).fetchone()[0],
        "products": 50,
        "stores": 10,
    }
    results = check_data_quality(history, day, generated)
    assert all(r.passed for r in results)
    assert any(r.severity == "warning" for r in results)
    # 40% of the lines gone: outside the usual band (a warning), within 0.5x-2x
    delete_lines(
        hdb,
        day,
        "SELECT transaction_id FROM transactions WHERE business_date = %(day)s"
        f" ORDER BY transaction_id LIMIT {generated['transactions'] * 2 // 5}",
    )
    generated["transactions"] -= generated["transactions"] * 2 // 5
    results = check_data_quality(history, day, generated)
    warned = {r.name for r in results if not r.passed}
    assert "transactions within the usual band of a Wednesday" in warned
    assert all(r.severity == "warning" for r in results if not r.passed)
    stored = hdb.execute(
        "SELECT check_name, severity, passed, value, low, high FROM quality_results "
        "WHERE business_date = %s ORDER BY check_name",
        [day],
    ).fetchall()
    assert sorted(r.name for r in results) == [row[0] for row in stored]  # replaced, once
    band = next(r for r in results if r.name.startswith("transactions within the usual"))
    row = next(row for row in stored if row[0] == band.name)
    assert (row[1], row[2], int(row[3]), float(row[4]), float(row[5])) == (
        "warning",
        False,
        generated["transactions"],
        band.low,
        band.high,
    )
    _, low, high = independent_band(hdb, day, "transaction_count")
    assert (band.low, band.high) == (math.ceil(low), math.floor(high))  # the counts within


def test_a_volume_drop_fails_the_day_before_its_kpis_and_mails_the_incident(
    history: Settings, hdb: psycopg.Connection
) -> None:
    day = LAST + dt.timedelta(days=1)  # a Saturday, never run: 100 transactions, not ~1,200
    with pytest.raises(QualityError, match=r"transactions within 0\.5x-2x of a usual Saturday"):
        run_day(history.replace(transactions=100), day)
    assert stored_metrics(history, day) is None  # not published
    incident = history.outbox_dir / f"{day}-incident.eml"
    message = email.message_from_bytes(incident.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Daily sales report FAILED for {day}: check_data_quality"
    text = message.get_body(("plain",)).get_content()
    assert "transactions within 0.5x-2x of a usual Saturday: got " in text
    assert "its KPIs were not published" in text
    assert not (history.outbox_dir / f"{day}-daily-report.eml").exists()
    failed = hdb.execute(
        "SELECT check_name FROM quality_results WHERE business_date = %s AND NOT passed "
        "AND severity = 'error'",
        [day],
    ).fetchall()
    assert ("transactions within 0.5x-2x of a usual Saturday",) in failed
    # what the DAG's failure notifier lists, read back from quality_results
    assert any(
        line.startswith("transactions within 0.5x-2x of a usual Saturday: got ")
        for line in failed_checks(history, day)
    )


def test_band_rules() -> None:
    assert Band.of([1.0, 2.0]).flag(100.0) == "not enough history"
    band = Band.of([100.0, 100.0, 100.0, 100.0])  # no spread: the relative width decides
    assert (band.low, band.high) == (80.0, 120.0)
    assert (band.flag(79.0), band.flag(121.0), band.flag(100.0)) == ("below", "above", "normal")
    assert band.error_limits() == (50.0, 200.0)
    small = Band.of([1, 0, 2, 1], count=True)  # a small count keeps its Poisson noise
    assert small.flag(4) == small.flag(5) == "normal" and small.flag(6) == "above"
    assert Band.of([0, 0, 1, 0, 2, 0, 0, 1], count=True).flag(4) == "normal"  # median 0
    assert Band.of([1300, 1300, 1300, 1300], count=True).high == 1560  # large: the 20% decides
    extreme = Band.of([476.99, 476.99, 1171.96, 422.99])  # one line's price, heavy tailed
    assert extreme.flag(765.98) == "above"
    assert Band.of([476.99, 476.99, 1171.96, 422.99], extreme=True).flag(765.98) == "normal"
    assert small.error_limits(count=True)[1] >= 6
    assert statistics.median([1, 0, 2, 1]) == small.expected


def test_alert_only_sends_the_report_of_a_day_with_a_warning(history: Settings) -> None:
    day = LAST + dt.timedelta(days=2)  # a Sunday: 70% of a usual day, a warning
    summary = run_day(history.replace(transactions=700, alert_only=True), day)
    assert summary.delivered_to == str(history.outbox_dir / f"{day}-daily-report.eml")
    message = email.message_from_bytes(
        Path(summary.delivered_to).read_bytes(), policy=email.policy.default
    )
    assert "unusual" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "WARNING" in text
    assert "transactions within the usual band of a Sunday" in text
