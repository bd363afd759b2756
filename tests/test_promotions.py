"""Promotions: a few campaigns a month and the big sales, loaded with the days they cover;
exact discounts; what is on promotion sells more; the promotion KPIs.

The lift is tested at the default sizes (a day's files) and at the "1M" scale (a million
lines drawn from the generator's own sampling table)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import psycopg
import pytest

from conftest import day_lines, expected_rows, generate_day, read_csv
from customer_pipeline.errors import QualityError
from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import CATEGORIES, PROMOTIONS
from customer_pipeline.generate.promotions import (
    discounts,
    offers_on,
    promotion_columns,
    promotions_through,
)
from customer_pipeline.generate.transactions import day_plan
from customer_pipeline.pipeline import run_day
from customer_pipeline.quality import check_data_quality
from customer_pipeline.settings import Settings

BLACK_FRIDAY = dt.date(2026, 11, 27)


def of_2026(settings: Settings) -> list:
    return [p for p in promotions_through(settings, dt.date(2026, 12, 31)) if p.start.year == 2026]


def test_every_month_has_a_few_campaigns() -> None:
    events = tuple(f"{event['name']}: " for event in PROMOTIONS["events"])
    campaigns = Counter(p.start.month for p in of_2026(Settings()) if not p.name.startswith(events))
    assert campaigns == Counter({month: 3 for month in range(1, 13)})


def test_the_year_has_its_big_sales() -> None:
    dates = {p.name: (p.start, p.end) for p in of_2026(Settings())}
    assert dates["Black Friday: Electronics"] == (BLACK_FRIDAY, dt.date(2026, 11, 30))
    assert dates["Summer Sale: Clothing"][0] == dt.date(2026, 7, 1)
    assert dates["Christmas Sale: Clothing"] == (dt.date(2026, 12, 26), dt.date(2027, 1, 3))


@pytest.mark.parametrize("event", PROMOTIONS["events"], ids=lambda event: event["name"])
def test_an_event_names_known_categories_and_lasts_at_most_28_days(event: dict) -> None:
    assert set(event["discounts"]) <= {category.name for category in CATEGORIES}
    assert 1 <= event["days"] <= 28  # a day looks back one month for the promotions valid


def test_a_promotion_is_the_same_whatever_day_it_is_generated_on() -> None:
    settings = Settings()
    earlier = promotions_through(settings, dt.date(2025, 3, 1))
    later = promotions_through(settings, dt.date(2026, 3, 1))
    assert later[: len(earlier)] == earlier
    assert len({p.promotion_id for p in later}) == len(later)


def test_a_discount_is_never_negative_nor_the_whole_line() -> None:
    settings = Settings()
    product = np.random.default_rng(0).integers(0, settings.sizes.products, 100_000)
    line = np.random.default_rng(1).integers(1, 10_000_000, 100_000)
    promotion, discount = discounts(settings, BLACK_FRIDAY, product, line)
    assert ((discount >= 0) & (discount < line)).all()
    assert ((discount > 0) <= (promotion >= 0)).all() and (discount > 0).any()


def test_the_promotion_fields_read_the_same_whatever_the_discounts_size() -> None:
    """promotion_columns formats small discounts from a table and large ones apart: the
    same text either way ("id,discount", or ",0.00" without a promotion)."""
    settings = Settings()
    offers = offers_on(settings, BLACK_FRIDAY)
    ids = [bytes(row).strip(b"\0").decode() for row in csvfile.matrix(offers.ids_text)]
    promotion = np.array([-1, 0, 1, 0, 1, -1])
    discount = np.array([0, 7, 1_234, 99_999, 100_000, 0])

    def text(promotion: np.ndarray, discount: np.ndarray) -> list[str]:
        rows = csvfile._rows([promotion_columns(settings, BLACK_FRIDAY, promotion, discount)])
        return bytes(rows).decode().splitlines()

    expected = [
        f"{ids[p] if p >= 0 else ''},{d // 100}.{d % 100:02d}"
        for p, d in zip(promotion, discount, strict=True)
    ]
    assert text(promotion, discount) == expected  # one discount needs the large path
    assert text(promotion[:4], discount[:4]) == expected[:4]  # the table alone


def promoted_and_a_day_without(settings: Settings, day: dt.date) -> tuple[np.ndarray, dt.date]:
    """The products on promotion on `day`, and the last day before when none of them was."""
    promoted = offers_on(settings, day).percent > 0
    before = day - dt.timedelta(days=7)
    while (
        offers_on(settings, before).percent[promoted[: len(offers_on(settings, before).percent)]]
        > 0
    ).any():  # products listed since: not yet
        before -= dt.timedelta(days=7)  # the same weekday
    return promoted, before


def test_promotion_days_sell_more_of_what_is_on_promotion(tmp_path: Path) -> None:
    settings = Settings()
    promoted, before = promoted_and_a_day_without(settings, BLACK_FRIDAY)
    shares = []
    for day in (before, BLACK_FRIDAY):
        files = generate_day(settings, tmp_path / str(day), day)
        rows = [row for f in files if f.table == "transactions" for row in read_csv(f.path)]
        shares.append(np.mean([promoted[int(row["product_id"]) - 1] for row in rows]))
    assert shares[1] > 1.3 * shares[0]


def promoted_share(settings: Settings, promoted: np.ndarray, day: dt.date) -> float:
    """The share of the day's lines (as generated) whose product is in `promoted`."""
    product, _, _ = day_lines(settings, day)
    return float(np.mean(promoted[day_plan(settings, day).product_index[product]]))


def test_promotions_lift_sales_at_a_million_lines_a_day() -> None:
    """The days' lines as generated (first lines, related ones and complements)."""
    settings = Settings().replace(customers=100_000, products=10_000, transactions=1_000_000)
    promoted, before = promoted_and_a_day_without(settings, BLACK_FRIDAY)
    shares = [promoted_share(settings, promoted, day) for day in (before, BLACK_FRIDAY)]
    assert shares[1] > 1.5 * shares[0]


@pytest.fixture
def black_friday(settings: Settings) -> dict:
    return run_day(settings, BLACK_FRIDAY).metrics


#: The discounts recomputed from the promotions' definitions alone.
RECOMPUTED_SQL = """
SELECT sum(floor(t.unit_price * t.quantity * p.discount_percent) / 100) AS discount_total,
       sum(t.unit_price * t.quantity - floor(t.unit_price * t.quantity * p.discount_percent)
           / 100) AS promotion_sales,
       count(p.promotion_id) AS promotion_transactions,
       count(*) FILTER (WHERE t.discount_amount <> coalesce(
           floor(t.unit_price * t.quantity * p.discount_percent) / 100, 0)) AS wrong,
       count(*) FILTER (WHERE t.promotion_id IS NOT NULL AND NOT (
           %(day)s BETWEEN p.start_date AND p.end_date
           AND (p.category = pr.category OR p.product_id = t.product_id))) AS misapplied
FROM transactions t
JOIN products pr USING (product_id)
LEFT JOIN promotions p USING (promotion_id)
WHERE t.business_date = %(day)s
"""


def test_promotion_kpis_equal_an_independent_sql_recomputation(
    black_friday: dict, db: psycopg.Connection
) -> None:
    total, sales, lines, wrong, misapplied = db.execute(
        RECOMPUTED_SQL, {"day": BLACK_FRIDAY}
    ).fetchone()
    assert (wrong, misapplied) == (0, 0) and lines > 0
    assert black_friday["discount_total"] == float(total)
    assert black_friday["promotion_sales"] == float(sales)
    assert black_friday["promotion_transactions"] == lines


#: Per campaign running on the day or sold on it, recomputed from the lines by a join
#: (not the KPIs' GROUP BY product and promotion).
PER_PROMOTION_SQL = """
SELECT p.promotion_id, p.name, count(t.transaction_id), coalesce(sum(t.transaction_amount), 0),
       coalesce(sum(t.discount_amount), 0)
FROM promotions p
LEFT JOIN transactions t ON t.promotion_id = p.promotion_id AND t.business_date = %(day)s
WHERE (p.start_date <= %(day)s AND p.end_date >= %(day)s) OR t.transaction_id IS NOT NULL
GROUP BY 1, 2
ORDER BY 4 DESC, 1
"""


def test_each_promotion_s_figures_equal_an_independent_sql_recomputation(
    black_friday: dict, db: psycopg.Connection
) -> None:
    expected = [
        (promotion, name, lines, float(sales), float(discount))
        for promotion, name, lines, sales, discount in db.execute(
            PER_PROMOTION_SQL, {"day": BLACK_FRIDAY}
        ).fetchall()
    ]
    found = [
        (p["promotion_id"], p["name"], p["transactions"], p["sales"], p["discount"])
        for p in black_friday["promotions"]
    ]
    assert found == expected
    assert sum(1 for row in expected if row[2] == 0) < len(expected) and expected[0][2] > 0


def test_every_line_of_a_product_on_promotion_gets_its_best_discount(
    black_friday: dict, db: psycopg.Connection
) -> None:
    del black_friday
    missed = db.execute(
        "SELECT count(*) FROM transactions t JOIN products pr USING (product_id) "
        "WHERE t.business_date = %(day)s AND EXISTS (SELECT FROM promotions p "
        "  WHERE %(day)s BETWEEN p.start_date AND p.end_date"
        "  AND (p.category = pr.category OR p.product_id = t.product_id)"
        "  AND p.discount_percent > coalesce((SELECT discount_percent FROM promotions q"
        "      WHERE q.promotion_id = t.promotion_id), 0))",
        {"day": BLACK_FRIDAY},
    ).fetchone()[0]
    assert missed == 0


def test_the_quality_checks_catch_an_amount_that_ignores_its_discount(
    black_friday: dict, settings: Settings, db: psycopg.Connection
) -> None:
    del black_friday
    db.execute(
        "ALTER TABLE transactions "
        "DROP CONSTRAINT transactions_amount_is_price_times_quantity_less_discount"
    )
    db.execute(
        "UPDATE transactions SET transaction_amount = unit_price * quantity "
        "WHERE ctid = (SELECT min(ctid) FROM transactions WHERE discount_amount > 0)"
    )
    with pytest.raises(
        QualityError, match="amount = unit_price x quantity - discount_amount: got 1"
    ):
        check_data_quality(settings, BLACK_FRIDAY, expected_rows(settings, BLACK_FRIDAY))


#: days of the months' own campaigns, no big sale: March Food Days (a category, 20%), a
#: product's 20% Spotlight in April, June Books Days with two Spotlights
CAMPAIGN_DAYS = [dt.date(2026, 3, 16), dt.date(2026, 4, 20), dt.date(2026, 6, 23)]


@pytest.mark.parametrize(
    "sizes",
    [{}, {"customers": 100_000, "products": 10_000, "transactions": 1_000_000}],
    ids=["default", "1M"],
)
def test_the_month_s_ordinary_campaigns_sell_more_of_what_they_discount(sizes) -> None:
    """Not only the big sales: on days of the month's campaigns alone, what is on
    promotion sells more lines against the rest than on the last same weekday before
    them (the odds of its share: Food is half of the lines, its share cannot double)."""
    settings = Settings().replace(**sizes)
    events = tuple(f"{event['name']}: " for event in PROMOTIONS["events"])
    lifts = []
    for day in CAMPAIGN_DAYS:
        running = [p for p in promotions_through(settings, day) if p.start <= day <= p.end]
        assert running and not any(p.name.startswith(events) for p in running), day
        promoted, before = promoted_and_a_day_without(settings, day)
        odds = [
            share / (1 - share)
            for share in (promoted_share(settings, promoted, on) for on in (before, day))
        ]
        lifts.append(odds[1] / odds[0])
    assert np.median(lifts) > 1.25, lifts  # 20% off: x 1.8 (1 + 0.04 x 20)
