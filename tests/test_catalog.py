"""The catalog: kinds of product with prices of the same order, brands in price tiers,
popularity skewed but never dominated by one product, stock that follows popularity.

Tested at the default sizes (50 products, a day's files) and at the "1M" scale (10,000
products; a million lines a day drawn from the generator's own sampling table)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from decimal import Decimal
from importlib.resources import files

import numpy as np
import pytest

from conftest import as_of, day_lines, generate_day, read_csv
from customer_pipeline.dataset import Dataset
from customer_pipeline.generate.catalog import BRANDS, CATEGORIES, DIGEST, KINDS, TIERS
from customer_pipeline.generate.product_changes import on_sale
from customer_pipeline.generate.products import demand_at, product_facts, product_name
from customer_pipeline.generate.promotions import promotion_lift
from customer_pipeline.generate.transactions import day_plan
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 3, 18)  # a Wednesday without a category on promotion
SCALES = [50, 10_000]  # products: the default, the "1M" scale's


@pytest.fixture(scope="module")
def default_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    folder = tmp_path_factory.mktemp("catalog")
    tables: dict[str, list[dict[str, str]]] = defaultdict(list)
    for generated in generate_day(Settings(), folder, DAY):
        tables[generated.table] += read_csv(generated.path)
    listed = as_of(Settings(), DAY)["products"]
    tables["products"] = [product for product in listed if not product["discontinued_at"]]
    return tables


def sales_shares(product: np.ndarray, cents: np.ndarray, products: int) -> np.ndarray:
    """Each product's share of the sales, largest first."""
    sales = np.bincount(product, weights=cents, minlength=products)
    return np.sort(sales)[::-1] / sales.sum()


@pytest.mark.parametrize("count", SCALES)
def test_a_kind_s_prices_stay_within_its_range(count: int) -> None:
    facts = product_facts(42, count)
    low = np.array([kind.min_price for kind in KINDS])[facts.kind] * 100 - 1
    high = np.array([kind.max_price for kind in KINDS])[facts.kind] * 100 - 1
    assert ((low <= facts.price_cents) & (facts.price_cents <= high)).all()
    assert (np.array([kind.category for kind in KINDS])[facts.kind] == facts.category).all()


@pytest.mark.parametrize("count", SCALES)
def test_the_same_kind_has_prices_of_the_same_order(count: int) -> None:
    facts = product_facts(42, count)
    for kind in np.unique(facts.kind):
        prices = facts.price_cents[facts.kind == kind]
        assert prices.max() / prices.min() < 10, KINDS[kind].name
    assert facts.price_cents.max() / facts.price_cents.min() > 100  # across kinds: not so


def test_socks_are_never_dear() -> None:
    facts = product_facts(42, 10_000)
    socks = np.isin(facts.kind, [k for k, kind in enumerate(KINDS) if kind.name == "Socks"])
    assert socks.sum() > 100 and product_name(42, int(np.argmax(socks))).endswith(" Socks")
    assert facts.price_cents[socks].max() <= 2_000


def test_premium_brands_cost_more_than_budget_ones_of_the_same_kind() -> None:
    facts = product_facts(42, 10_000)
    tier = np.array([brand.tier for brand in BRANDS])[facts.brand]
    for kind in range(len(KINDS)):
        mine = facts.kind == kind
        budget = np.median(facts.price_cents[mine & (tier == 0)])
        premium = np.median(facts.price_cents[mine & (tier == len(TIERS) - 1)])
        assert premium > 1.5 * budget, KINDS[kind].name


def test_a_product_s_name_brand_tier_and_category_agree(default_day: dict) -> None:
    kinds = {c.name: {KINDS[k].name for k in c.kinds} for c in CATEGORIES}
    tiers = {brand.name: TIERS[brand.tier] for brand in BRANDS}
    for product in default_day["products"]:
        name = product["product_name"]
        assert name.startswith(product["brand"] + " ")
        assert any(name.endswith(" " + kind) for kind in kinds[product["category"]]), name
        assert tiers[product["brand"]] == product["price_tier"]


def test_no_product_dominates_a_default_day(default_day: dict) -> None:
    sales: Counter = Counter()
    units: Counter = Counter()
    for row in default_day["transactions"]:
        sales[row["product_id"]] += Decimal(row["transaction_amount"])
        units[row["product_id"]] += int(row["quantity"])
    assert max(sales.values()) / sum(sales.values()) <= Decimal("0.10")
    top_tenth = sorted(units.values(), reverse=True)[:5]  # equal popularity: 10%
    assert sum(top_tenth) / sum(units.values()) >= 0.25


MARCH = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(28)]
PEAK = [dt.date(2025, 11, 20) + dt.timedelta(days=i) for i in range(28)]  # Black Friday..


@pytest.mark.parametrize("seed", [42, 5, 6])
@pytest.mark.parametrize("days", [MARCH, PEAK], ids=["March", "Black Friday to Christmas"])
def test_no_product_dominates_any_default_day(seed: int, days: list[dt.date]) -> None:
    """~1,000 lines a day over ~50 products: dear products are rare and bought one at a
    time, so no monitor or laptop makes a day by being bought a few times."""
    settings = Settings().replace(seed=seed)
    tops, top_tenths = [], []
    for day in days:
        product, paid, units = day_lines(settings, day)
        products = len(day_plan(settings, day).price_cents)
        tops.append(sales_shares(product, paid, products)[0])
        top_tenths.append(sales_shares(product, units, products)[: products // 10].sum())
    assert max(tops) <= 0.10 and np.median(tops) <= 0.07
    assert min(top_tenths) >= 0.22  # of the units; equal popularity: 0.10


def test_no_product_dominates_a_million_lines_a_day() -> None:
    """The day's lines as generated (baskets, related and complementary lines, quantities,
    discounts), 823,577 on DAY."""
    settings = Settings().replace(customers=100_000, transactions=1_000_000)  # 50 products
    product, paid, _ = day_lines(settings, DAY)
    products = len(day_plan(settings, DAY).price_cents)
    assert len(product) > 500_000
    assert sales_shares(product, paid, products)[0] <= 0.10
    assert sales_shares(product, np.ones(len(product)), products)[:5].sum() >= 0.25  # lines


def price_response(settings: Settings, days: list[dt.date]) -> float:
    """The slope of log(lines sold / lines its popularity and promotions alone would
    sell) over log(launch price / the day's price), across the products sold, weighted by
    those lines: PRICE_ELASTICITY when demand follows the price, 0 when it does not."""
    observed, expected, ratio = Counter(), Counter(), Counter()
    for day in days:
        catalog = on_sale(settings, day)
        facts = product_facts(settings.seed, catalog.listed)
        base = facts.popularity[catalog.index] * promotion_lift(settings, day)[catalog.index]
        product, _, _ = day_lines(settings, day)
        sold = np.bincount(product, minlength=len(base))
        share = base / base.sum() * len(product)
        launch = np.log(facts.price_cents[catalog.index] / catalog.price_cents)
        for p, n, e, r in zip(catalog.index.tolist(), sold, share, launch, strict=True):
            observed[p] += n
            expected[p] += e
            ratio[p] += e * r
    ids = [p for p in expected if observed[p] > 0]
    x = np.array([ratio[p] / expected[p] for p in ids])
    y = np.log([observed[p] / expected[p] for p in ids])
    weight = np.array([expected[p] for p in ids])
    return float(np.polyfit(x, y, 1, w=np.sqrt(weight))[0])


def test_a_product_sells_fewer_at_a_dearer_price_in_a_default_catalog() -> None:
    """Four weeks of default days (about 60 products, most of them with a price changed
    since their launch)."""
    assert 1.0 <= price_response(Settings(), MARCH) <= 2.0  # PRICE_ELASTICITY 1.5


def test_a_product_sells_fewer_at_a_dearer_price_in_a_million_lines_a_day() -> None:
    settings = Settings().replace(customers=100_000, products=10_000, transactions=1_000_000)
    assert 1.2 <= price_response(settings, [DAY]) <= 1.8


def test_a_small_catalog_samples_even_its_rarest_products_by_their_popularity() -> None:
    """The day's sampling tickets follow popularity within half of it, product by product,
    even for a laptop of a catalog of 50 (one ticket would sell it several times too
    often)."""
    settings = Settings()
    plan = day_plan(settings, DAY)
    facts = product_facts(settings.seed, on_sale(settings, DAY).listed)
    catalog = on_sale(settings, DAY)
    popularity = demand_at(facts, catalog.index, catalog.price_cents)
    popularity *= promotion_lift(settings, DAY)[catalog.index]
    tickets = np.bincount(plan.product_tickets, minlength=len(popularity))
    expected = popularity / popularity.sum() * len(plan.product_tickets)
    assert np.all(np.abs(tickets - expected) <= expected / 2)


def test_catalogs_of_50_are_skewed_and_none_is_dominated() -> None:
    top, top_tenth, units_top_tenth = [], [], []
    for seed in range(40):
        facts = product_facts(seed, 50)
        sales = np.sort(facts.units * facts.price_cents)[::-1] / (facts.units @ facts.price_cents)
        top.append(sales[0])
        top_tenth.append(sales[:5].sum())
        units_top_tenth.append(np.sort(facts.units)[-5:].sum() / facts.units.sum())
    assert np.median(top) <= 0.07 and max(top) <= 0.09
    assert np.median(top_tenth) >= 0.22
    assert np.median(units_top_tenth) >= 0.22  # equal popularity: 0.10


def test_stock_follows_popularity(default_day: dict) -> None:
    units: Counter = Counter()
    for row in default_day["transactions"]:
        units[row["product_id"]] += int(row["quantity"])
    stock = [int(p["quantity"]) for p in default_day["products"]]
    sold = [units[p["product_id"]] for p in default_day["products"]]
    ranks = np.argsort(np.argsort(stock)), np.argsort(np.argsort(sold))
    assert np.corrcoef(*ranks)[0, 1] >= 0.6  # Spearman


def test_the_catalog_file_is_part_of_the_dataset() -> None:
    text = files("customer_pipeline").joinpath("data/catalog.toml").read_bytes()
    assert hashlib.sha256(text).hexdigest()[:12] == DIGEST
    assert f"catalog {DIGEST}" in Dataset.of(Settings()).generator


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.name)
def test_every_category_has_kinds_and_brands_of_every_tier(category) -> None:
    assert len(category.kinds) >= 10
    assert {BRANDS[b].tier for b in category.brands} == set(range(len(TIERS)))


@pytest.mark.parametrize("count", SCALES)
def test_a_changed_price_stays_within_its_kind_s_range(count: int) -> None:
    """By 2026 most products' prices have changed (about once a year): a new price is
    still of its brand's tier of its kind's range (socks stay cheap)."""
    settings = Settings().replace(products=count)
    catalog = on_sale(settings, DAY)
    facts = product_facts(settings.seed, catalog.listed)
    kind = facts.kind[catalog.index]
    low = np.array([k.min_price for k in KINDS])[kind] * 100 - 1
    high = np.array([k.max_price for k in KINDS])[kind] * 100 - 1
    changed = catalog.price_cents != facts.price_cents[catalog.index]
    assert changed.mean() > 0.5
    assert ((low <= catalog.price_cents) & (catalog.price_cents <= high)).all()
