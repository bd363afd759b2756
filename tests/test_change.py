"""Change over time: customers and products as SCD type 2 histories, merged from daily
version files. Real PostgreSQL for the merge; numpy alone for the rates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from conftest import DUMPS, dumps, generate_day
from customer_pipeline.generate import customer_changes, product_changes
from customer_pipeline.generate.calendar import customers_through
from customer_pipeline.generate.csvfile import format_rows
from customer_pipeline.generate.customers import customer_facts, day_visits, visit_weights
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

DAYS = (dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 12, 21))
REFERENCE = {"customers": 1_000_000, "products": 10_000, "stores": 500, "transactions": 1_000_000}


@pytest.fixture
def load(settings: Settings, tmp_path: Path, db: psycopg.Connection):
    """load(days, schema suffix): the days loaded in this order into a schema of their own;
    returns the schema's name (the connection `db` is switched to it)."""
    made: list[str] = []

    def run(days, suffix: str) -> str:
        other = settings.replace(db_schema=f"{settings.db_schema}_{suffix}")
        made.append(other.db_schema)
        create_tables(other)
        for day in days:
            load_day(other, day, generate_day(other, tmp_path / suffix / str(day), day))
        db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(other.db_schema)))
        return other.db_schema

    yield run
    for schema in made:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_a_set_of_days_in_any_order_ends_in_the_same_state(load, db) -> None:
    forward = dumps(db, load(DAYS, "forward"))
    backward = dumps(db, load(DAYS[::-1], "backward"))
    shuffled = dumps(db, load([DAYS[1], DAYS[2], DAYS[0]], "shuffled"))
    assert forward == backward == shuffled
    assert forward["customers_history"][0] > forward["customers"][0]  # versions: more rows
    assert forward["returns"][0] > 0 and forward["returns_scheduled"][0] > forward["returns"][0]


def day_dump(db: psycopg.Connection, schema: str, day: dt.date) -> dict[str, tuple]:
    """The day's facts: its lines, its buyers' sums, the returns scheduled from its sales."""
    found = {}
    for table in ("transactions", "customer_days", "returns_scheduled"):
        found[table] = db.execute(
            sql.SQL(
                "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY {})) FROM {}.{} t "
                "WHERE business_date = %s"
            ).format(sql.SQL(DUMPS[table]), sql.Identifier(schema), sql.Identifier(table)),
            [day],
        ).fetchone()
    return found


def test_a_day_alone_on_an_empty_schema_holds_what_it_holds_in_the_set(load, db) -> None:
    together = load(DAYS, "together")
    alone = load(DAYS[1:2], "alone")
    assert day_dump(db, alone, DAYS[1]) == day_dump(db, together, DAYS[1])
    assert day_dump(db, alone, DAYS[1])["transactions"][0] > 0


def test_a_rerun_changes_nothing(load, db, settings: Settings, tmp_path: Path) -> None:
    schema = load(DAYS[:2], "twice")
    before = dumps(db, schema)
    again = settings.replace(db_schema=schema)
    load_day(again, DAYS[1], generate_day(again, tmp_path / "again", DAYS[1]))
    assert dumps(db, schema) == before


#: Each SQL counts the rows that break an invariant; all must be 0 in every state.
INVARIANTS = {
    "a version's valid_to is the next one's valid_from (no gap, no overlap)": """
        SELECT count(*) FROM (
            SELECT valid_to, lead(valid_from) OVER (PARTITION BY {key} ORDER BY valid_from) AS next
            FROM {history}) v
        WHERE valid_to IS DISTINCT FROM next""",
    "one current version per key, the current table's row": """
        SELECT (SELECT count(*) FROM (
                    (SELECT {columns} FROM {history} WHERE valid_to IS NULL
                     EXCEPT ALL SELECT {columns} FROM {table})
                    UNION ALL
                    (SELECT {columns} FROM {table}
                     EXCEPT ALL SELECT {columns} FROM {history} WHERE valid_to IS NULL)) d)""",
    "nothing from after the last day loaded": """
        SELECT count(*) FROM {history}
        WHERE valid_from >= (SELECT max(business_date) + 1 FROM transactions)::timestamp
                            AT TIME ZONE 'UTC'""",
}
SALES_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE p.price IS DISTINCT FROM t.unit_price) AS wrong_price,
       count(*) FILTER (WHERE p.discontinued_at IS NOT NULL) AS discontinued,
       count(*) FILTER (WHERE c.closed_at IS NOT NULL) AS closed,
       count(*) FILTER (WHERE c.customer_id IS NULL OR p.product_id IS NULL) AS no_version
FROM transactions t
LEFT JOIN products_history p ON p.product_id = t.product_id
     AND p.valid_from <= t.transaction_date
     AND (p.valid_to IS NULL OR t.transaction_date < p.valid_to)
LEFT JOIN customers_history c ON c.customer_id = t.customer_id
     AND c.valid_from <= t.transaction_date
     AND (c.valid_to IS NULL OR t.transaction_date < c.valid_to)
"""


def broken_invariants(db: psycopg.Connection) -> dict[str, int]:
    from customer_pipeline.tables import VERSIONED

    found = {}
    for table in VERSIONED:
        names = {
            "table": sql.Identifier(table.name),
            "history": sql.Identifier(table.history),
            "key": sql.Identifier(table.key),
            "columns": sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        }
        for name, query in INVARIANTS.items():
            found[f"{table.name}: {name}"] = db.execute(sql.SQL(query).format(**names)).fetchone()[
                0
            ]
    return {name: count for name, count in found.items() if count}


@pytest.mark.parametrize("days", [DAYS, DAYS[1:2], DAYS[2:]], ids=["three", "one", "later"])
def test_histories_are_scd2_and_rebuild_the_current_tables(load, db, days) -> None:
    load(days, "scd2")
    assert broken_invariants(db) == {}


def test_every_line_is_sold_at_the_price_valid_then_by_an_open_account(load, db) -> None:
    load(DAYS, "sales")
    lines, *wrong = db.execute(SALES_SQL).fetchone()
    assert lines > 3000 and wrong == [0, 0, 0, 0]


def test_the_invariant_queries_catch_what_they_check(load, db) -> None:
    load(DAYS[1:2], "broken")
    db.execute(
        "UPDATE customers_history SET valid_to = valid_to + interval '1 second' "
        "WHERE valid_to IS NOT NULL AND ctid = (SELECT min(ctid) FROM customers_history "
        "WHERE valid_to IS NOT NULL)"
    )
    db.execute("UPDATE products SET price = price + 1 WHERE product_id = 1")
    db.execute(
        "UPDATE transactions SET unit_price = unit_price + 1, "
        "transaction_amount = transaction_amount + quantity "
        "WHERE transaction_id = (SELECT min(transaction_id::text)::uuid FROM transactions)"
    )
    assert len(broken_invariants(db)) == 2
    assert db.execute(SALES_SQL).fetchone()[1] == 1


def test_a_day_s_changes_are_its_versions(load, db, settings: Settings) -> None:
    """What changed on D is one query per dimension; a day's sign-ups are versions too."""
    load(DAYS[:2], "changes")
    day = DAYS[1]
    changed = dict(
        db.execute(
            "SELECT 'customers', count(*) FROM customers_history "
            "WHERE (valid_from AT TIME ZONE 'UTC')::date = %(day)s UNION ALL "
            "SELECT 'products', count(*) FROM products_history "
            "WHERE (valid_from AT TIME ZONE 'UTC')::date = %(day)s",
            {"day": day},
        ).fetchall()
    )
    signups = customers_through(settings, day) - customers_through(settings, DAYS[0])
    assert changed["customers"] == len(customer_changes.changed_on(settings, day)) + signups
    assert changed["products"] == len(product_changes.changed_on(settings, day))


def test_moves_and_closed_accounts_are_kpis(load, db, settings: Settings) -> None:
    schema = load(DAYS[:2], "kpis")
    metrics = calculate_metrics(settings.replace(db_schema=schema), DAYS[1])
    moved = db.execute(
        "SELECT count(*) FROM customers_history h JOIN customers_history p "
        "ON p.customer_id = h.customer_id AND p.valid_to = h.valid_from "
        "WHERE (h.valid_from AT TIME ZONE 'UTC')::date = %s AND h.address <> p.address",
        [DAYS[1]],
    ).fetchone()[0]
    assert metrics["customers_moved"] == moved
    assert metrics["customers_closed"] >= 0


# --- rates, numpy alone -------------------------------------------------------------


def yearly_rates(settings: Settings, days: list[dt.date]) -> dict[str, float]:
    """Changes a year per customer (moves, e-mails, balances, closes) and per product on
    sale (price changes), measured on `days` spread over a year."""
    calendar = customer_changes._calendar(settings)
    counts = dict.fromkeys(("move", "email", "balance", "close", "price"), 0.0)
    for day in days:
        at = day.toordinal() - dt.date(1970, 1, 1).toordinal()
        count = customers_through(settings, day)
        lives = customer_changes.lives(settings, np.arange(count), customer_facts(settings, count))
        for name, kind in zip(("move", "email", "balance"), customer_changes.KINDS, strict=True):
            changed = calendar.on_day(kind, lives.index, at, lives.first, lives.close)
            counts[name] += changed.sum() / count
        counts["close"] += (lives.close == at).sum() / count
        repriced = len(product_changes.changed_on(settings, day)) - launched_or_ended(settings, day)
        counts["price"] += repriced / len(product_changes.on_sale(settings, day).index)
    return {name: total / len(days) * 365.25 for name, total in counts.items()}


@pytest.mark.parametrize("sizes", [{}, {"customers": 200_000}], ids=["default", "200k"])
def test_the_day_s_changers_are_found_without_reading_everyone(sizes: dict[str, int]) -> None:
    """changed_on draws the day's changers in O(changes) (events dealt by block position):
    exactly the customers that a pass over everyone finds, closes included."""
    settings = Settings().replace(**sizes)
    calendar = customer_changes._calendar(settings)
    for day in (dt.date(2020, 1, 1), dt.date(2023, 3, 14), dt.date(2026, 11, 20)):
        at = day.toordinal() - dt.date(1970, 1, 1).toordinal()
        count = customers_through(settings, day - dt.timedelta(days=1))
        lives = customer_changes.lives(settings, np.arange(count), customer_facts(settings, count))
        changed = lives.close == at
        for kind in customer_changes.KINDS:
            changed |= calendar.on_day(kind, lives.index, at, lives.first, lives.close)
        found = customer_changes.changed_on(settings, day)
        assert len(found) > count / 200
        assert np.array_equal(found, np.flatnonzero(changed))


def test_a_day_s_changes_vary_as_independent_customers_would() -> None:
    """The blocks of customers share their events' draws (dealt to other rows, shifted in
    time): a day's number of changes still varies like a Poisson count, not by blocks."""
    settings = Settings().replace(customers=200_000)
    start = dt.date(2026, 3, 1)
    days = [start + dt.timedelta(days=d) for d in range(30)]
    counts = np.array([len(customer_changes.changed_on(settings, day)) for day in days])
    assert counts.mean() > 1_000
    assert counts.std() < 2 * np.sqrt(counts.mean())


def launched_or_ended(settings: Settings, day: dt.date) -> int:
    index = np.arange(product_changes.products_through(settings, day))
    launch = product_changes.launch_days(settings, index)
    at = day.toordinal() - dt.date(1970, 1, 1).toordinal()
    return int(((launch == at) | (product_changes.end_days(settings, index, launch) == at)).sum())


@pytest.mark.parametrize(
    ("sizes", "days"),
    [({}, 120), (REFERENCE, 6)],
    ids=["default", "1M"],
)
def test_change_rates_are_realistic(sizes: dict[str, int], days: int) -> None:
    settings = Settings().replace(**sizes)
    spread = [dt.date(2025, 1, 1) + dt.timedelta(days=int(d)) for d in np.linspace(0, 364, days)]
    rates = yearly_rates(settings, spread)
    assert 0.10 <= rates["move"] <= 0.19  # about once in 7 years
    assert 0.04 <= rates["email"] <= 0.10
    assert 3.0 <= rates["balance"] <= 5.0
    assert 0.008 <= rates["close"] <= 0.03  # most of the lapsed, after lapsing
    assert 0.4 <= rates["price"] <= 1.1  # about once a year (a draw equal to the old: none)


def test_the_catalog_grows_and_sheds_products() -> None:
    settings = Settings().replace(products=10_000)
    start, later = (product_changes.on_sale(settings, dt.date(y, 1, 1)) for y in (2020, 2026))
    assert 10_000 <= len(start.index) <= 10_005  # the first new ones come on the first day
    assert 15_500 <= later.listed <= 16_500  # 10% of the initial catalog a year
    discontinued = later.listed - len(later.index)
    assert 0.03 * 6 <= discontinued / 10_000 <= 0.07 * 6  # about 5% a year


def test_a_closed_account_never_buys_again() -> None:
    """Closing follows a lapsed customer's last visit: their weight is 0 from then on, and
    the day's visits never pick them."""
    settings = Settings().replace(customers=50_000)
    day = dt.date(2026, 6, 1)
    count = customers_through(settings, day)
    facts = customer_facts(settings, count)
    lives = customer_changes.lives(settings, np.arange(count), facts)
    at = day.toordinal() - dt.date(1970, 1, 1).toordinal()
    closed = lives.close <= at
    assert closed.sum() > 500
    assert (visit_weights(facts, day)[closed] == 0).all()
    assert (facts.lapses[closed] < lives.close[closed]).all()
    # the day plan's visits (drawn in O(visits)) never pick one either
    visits = day_visits(settings, day, count, count / 2, np.random.default_rng(0))
    assert len(visits) > count / 4
    assert not np.isin(visits, np.flatnonzero(closed)).any()


def _versions(module, settings: Settings, day: dt.date, since: dt.date | None = None) -> dict:
    """versions_before's rows by key (the first column), each as its fields' bytes."""
    rows = {}
    for columns in module.versions_before(settings, day, since):
        text = format_rows(columns).tobytes().decode().splitlines()
        rows.update((line.split(",", 1)[0], line) for line in text)
    return rows


@pytest.mark.parametrize(
    "module", [customer_changes, product_changes], ids=["customers", "products"]
)
def test_the_catch_up_after_a_gap_is_what_changed_in_it(module) -> None:
    """After a gap, the catch-up's versions are exactly the full catch-up's that differ
    from what the history holds by the last loaded day (the version in force as it ends):
    every row created or changed in the gap, none other."""
    settings = Settings().replace(customers=20_000, products=2_000)
    loaded, day = dt.date(2026, 3, 3), dt.date(2026, 3, 10)
    full = _versions(module, settings, day)
    known = _versions(module, settings, loaded + dt.timedelta(days=1))
    after_gap = _versions(module, settings, day, loaded)
    assert after_gap == {key: row for key, row in full.items() if known.get(key) != row}
    assert 0 < len(after_gap) < len(full) / 10
    assert _versions(module, settings, loaded + dt.timedelta(days=1), loaded) == {}


def customer_rows(settings: Settings, index: np.ndarray, day: dt.date) -> list[dict[str, str]]:
    """Customers `index` as `day` ends, as rows of the customers file."""
    import csv
    import io

    from customer_pipeline.tables import CUSTOMERS

    at = day.toordinal() - dt.date(1970, 1, 1).toordinal()
    text = format_rows(customer_changes.versions(settings, index, at)).tobytes().decode()
    return list(csv.DictReader(io.StringIO(text), CUSTOMERS.file_columns))


@pytest.mark.parametrize(
    ("sizes", "weeks"), [({}, 40), ({"customers": 100_000}, 2)], ids=["default", "1M"]
)
def test_a_move_changes_the_whole_address_and_a_zip_code_fits_its_state(sizes, weeks) -> None:
    """en_US: every customer's ZIP code lies in its state's range (at sign-up and after a
    move: 2% would by chance); a move draws street, city and ZIP code anew, and a state
    of the same time zone (data/timezones.toml), another one in most moves."""
    import tomllib
    from importlib.resources import files

    from customer_pipeline.generate.pools import pools

    settings = Settings().replace(**sizes)
    pool = pools(settings.locale)
    ranges = {
        state.decode(): tuple(limits)
        for state, limits in zip(pool.states.tolist(), pool.state_postcodes, strict=True)
    }
    table = files("customer_pipeline").joinpath("data/timezones.toml").read_text(encoding="utf-8")
    zone = tomllib.loads(table)["state_zones"][settings.locale]
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=7 * week) for week in range(weeks)]
    fields = ("address", "city", "postal_code")
    moves = changed_fields = other_states = 0
    for day in days:
        index = customer_changes.changed_on(settings, day)
        before = customer_rows(settings, index, day - dt.timedelta(days=1))
        after = customer_rows(settings, index, day)
        for old, new in zip(before, after, strict=True):
            for row in (old, new):
                low, high = ranges[row["state"]]
                assert len(row["postal_code"]) == 5 and low <= int(row["postal_code"]) <= high
            if old["address"] != new["address"]:
                moves += 1
                changed_fields += sum(old[f] != new[f] for f in fields)
                other_states += old["state"] != new["state"]
                assert zone[old["state"]] == zone[new["state"]]
    assert moves >= 20
    assert changed_fields / moves >= 2.9
    # the same state by chance: about 1 move in 5 (California is 72% of the Pacific zone)
    assert 0.6 <= other_states / moves < 0.95


def readme_queries() -> list[str]:
    """The SQL examples of the README's "Change over time" section, in order."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Change over time") : text.index("## The daily report")]
    blocks = section.split("```sql\n")[1:]
    return [
        statement.strip()
        for block in blocks
        for statement in block[: block.index("```")].split(";")
        if statement.strip()
    ]


def test_the_readme_s_change_queries_run_and_agree(load, db) -> None:
    """What changed on a day, the SCD2 join by the state at the time of sale and a day's
    returns, run as the README prints them on the days loaded (2026-11-20 among them)."""
    load(DAYS, "readme")
    queries = readme_queries()
    assert len(queries) == 4
    customers, products, by_state, returns = (db.execute(q).fetchall() for q in queries)
    day = dt.date(2026, 11, 20)
    (changed,) = db.execute(
        "SELECT count(*) FROM customers_history WHERE valid_from >= %s::timestamp AT TIME "
        "ZONE 'UTC' AND valid_from < (%s::date + 1)::timestamp AT TIME ZONE 'UTC'",
        [day, day],
    ).fetchone()
    assert len(customers) == changed > 0 and len(products) >= 0
    (lines, sales) = db.execute(
        "SELECT count(*), sum(transaction_amount) FROM transactions WHERE business_date = %s",
        [day],
    ).fetchone()
    assert sum(row[1] for row in by_state) == lines and sum(row[2] for row in by_state) == sales
    assert len(by_state) > 10  # states, not one
    assert returns == []  # 2026-11-25 is not loaded: its returns wait, scheduled


@pytest.mark.parametrize("sizes", [{}, {"customers": 100_000}], ids=["default", "1M"])
def test_a_state_has_its_share_of_the_people(sizes) -> None:
    """en_US: the customers' states follow the 2020 census (data/populations.toml), at
    sign-up and after moves: California 11.9%, Texas 8.8%, Wyoming 0.2% (evenly: 2%)."""
    settings = Settings().replace(**sizes)
    day = dt.date(2026, 11, 20)
    index = np.arange(min(customers_through(settings, day), 60_000))
    states = [row["state"] for row in customer_rows(settings, index, day)]
    share = {state: states.count(state) / len(states) for state in set(states)}
    noise = 4 * np.sqrt(0.12 / len(states))
    assert abs(share["California"] - 0.119) < noise
    assert abs(share["Texas"] - 0.088) < noise
    assert share.get("Wyoming", 0) < 0.006
    assert len(share) == 50
