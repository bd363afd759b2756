"""Shoppers and baskets, tested on the generator's numbers (no CSV) at the default sizes
and at the "1M" scale (1M lines a day): each effect fails its test when it is removed."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pytest

from customer_pipeline.generate.calendar import customers_through, transaction_count
from customer_pipeline.generate.catalog import COMPLEMENTS, KINDS
from customer_pipeline.generate.customers import LAPSED, OCCASIONAL, WEEKLY, customer_facts
from customer_pipeline.generate.stores import store_facts, zone_names
from customer_pipeline.generate.transactions import block_lines, day_plan
from customer_pipeline.settings import BLOCK_ROWS, Settings

SCALES = {
    "default": Settings(),
    "1M": Settings().replace(
        customers=1_000_000, products=10_000, stores=500, transactions=1_000_000
    ),
}
MONDAY = dt.date(2026, 3, 2)
MONTH = [MONDAY + dt.timedelta(days=i) for i in range(28)]
#: the history's first four whole weeks: the fewest customers for the volume, where the cap
#: of customers.MOST_VISITS_A_DAY flattens how often people come (most at the 1M scale)
FIRST_MONTH = [dt.date(2020, 1, 6) + dt.timedelta(days=i) for i in range(28)]
MONTHS = {"2026-03": MONTH, "2020-01": FIRST_MONTH}
#: the history's first week (the fewest customers for the volume), a busy Saturday of its
#: first winter, its first December Saturday, a week of 2026
DAYS = [
    *(Settings().history_start + dt.timedelta(days=i) for i in range(7)),
    dt.date(2020, 2, 8),
    dt.date(2020, 12, 19),
    *MONTH[:7],
]


@dataclass(frozen=True)
class Day:
    """A day's baskets (customer, store, UTC second, lines, value in cents) and lines."""

    customer: np.ndarray
    store: np.ndarray
    second: np.ndarray
    size: np.ndarray
    value: np.ndarray
    product: np.ndarray
    basket_of_line: np.ndarray


@lru_cache(maxsize=4)
def day_of(scale: str, day: dt.date) -> Day:
    settings = SCALES[scale]
    plan = day_plan(settings, day)
    count = transaction_count(settings, day)
    parts, offset = [], 0
    for block in range(-(-count // BLOCK_ROWS)):
        lines = block_lines(settings, day, plan, block)
        keep = min(BLOCK_ROWS, count - block * BLOCK_ROWS)
        baskets = lines.basket_of_line[keep - 1] + 1
        size = lines.size[:baskets].copy()
        size[-1] -= size.sum() - keep
        line_cents = plan.price_cents[lines.product[:keep]] * lines.quantity[:keep]
        value = np.bincount(lines.basket_of_line[:keep], weights=line_cents)
        per_basket = (lines.customer, lines.store, lines.second)
        parts.append([a[:baskets] for a in per_basket] + [size, value])
        parts[-1] += [lines.product[:keep], lines.basket_of_line[:keep] + offset]
        offset += baskets
    return Day(*(np.concatenate(column) for column in zip(*parts, strict=True)))


@dataclass(frozen=True)
class Baskets:
    """A day's baskets alone: their customer, lines and value in cents (a fifth of a Day)."""

    customer: np.ndarray
    size: np.ndarray
    value: np.ndarray


@cache
def baskets_of(scale: str, day: dt.date) -> Baskets:
    """day_of's baskets, kept for the module: the tests of a month or more (both months
    and DAYS at the "1M" scale) draw each day once."""
    whole = day_of(scale, day)
    return Baskets(whole.customer.astype(np.int32), whole.size, whole.value)


@pytest.fixture(scope="module", autouse=True)
def _forget_the_days() -> Iterator[None]:
    """The days drawn are the module's: freed when it is done."""
    yield
    baskets_of.cache_clear()
    day_of.cache_clear()


@pytest.fixture(params=list(SCALES), scope="module")
def scale(request: pytest.FixtureRequest) -> str:
    return request.param


def test_most_buyers_buy_once_and_nobody_many_times(scale: str) -> None:
    """Whatever the day's volume against the customers, nobody is expected more than 1.5
    times a day (customers.MOST_VISITS_A_DAY), no visit serves two baskets and a sign-up
    makes one first purchase: nobody makes more than 2 baskets."""
    for day in DAYS:
        _, baskets = np.unique(baskets_of(scale, day).customer, return_counts=True)
        assert np.mean(baskets == 1) >= 0.75, day
        assert np.percentile(baskets, 95) <= 2 and baskets.max() <= 2, day


def test_every_sign_up_makes_its_first_purchase_that_day_and_one(scale: str) -> None:
    """A customer's account is made at the first purchase (online, after signing up):
    each of the day's sign-ups buys exactly one basket that day, so `new_customers`
    (buyers who signed up that day) counts the day's first purchases."""
    settings = SCALES[scale]
    days = MONTH if scale == "default" else MONTH[:3]
    for day in days:
        plan, whole = day_plan(settings, day), day_of(scale, day)
        newcomers = whole.customer[whole.customer >= plan.returning] - plan.returning
        assert np.array_equal(np.sort(newcomers), np.arange(plan.new)), day
        bought_at = whole.second[whole.customer >= plan.returning]  # seconds of the day
        assert np.all(bought_at >= plan.new_signup_second[newcomers]), day
    assert sum(day_plan(settings, day).new for day in days) >= 20


@pytest.mark.parametrize("month", list(MONTHS))
def test_the_top_tenth_make_40_percent_of_a_months_sales_by_coming_back(
    scale: str, month: str
) -> None:
    """In the history's first month too, where the cap on a day's visits flattens how
    often people come (at 1M: 35% with every basket drawn alike), households' spend
    per visit (customers.spend_tier) keeps the month skewed."""
    everyone = customers_through(SCALES[scale], MONTHS[month][-1])
    sales, visits = np.zeros(everyone), np.zeros(everyone)
    for day in MONTHS[month]:
        baskets = baskets_of(scale, day)
        sales += np.bincount(baskets.customer, weights=baskets.value, minlength=everyone)
        visits += np.bincount(baskets.customer, minlength=everyone)
    top = np.argsort(sales)[::-1][: everyone // 10]
    assert sales[top].sum() / sales.sum() >= 0.40
    assert np.median(visits[top]) >= 3  # the best customers come back, week after week


def test_households_spend_alike_visit_after_visit(scale: str) -> None:
    """A household's baskets are fuller or emptier than others' week after week (its
    spend level, customers.spend_tier): its mean lines per basket in a month's first half
    predicts its second's (every basket drawn alike: no correlation)."""
    everyone = customers_through(SCALES[scale], MONTH[-1])
    halves = []
    for days in (MONTH[:14], MONTH[14:]):
        lines, baskets = np.zeros(everyone), np.zeros(everyone)
        for d in days:
            day = baskets_of(scale, d)
            lines += np.bincount(day.customer, weights=day.size, minlength=everyone)
            baskets += np.bincount(day.customer, minlength=everyone)
        halves.append((lines, baskets))
    both = (halves[0][1] >= 2) & (halves[1][1] >= 2)
    first, second = (lines[both] / baskets[both] for lines, baskets in halves)
    assert both.sum() >= 100
    assert np.corrcoef(first, second)[0, 1] > 0.3


def test_weekly_shoppers_come_on_their_day_and_lapsed_ones_stop(scale: str) -> None:
    settings = SCALES[scale]
    facts = customer_facts(settings, customers_through(settings, MONTH[-1]))
    on_their_day = visits = 0
    counts = np.zeros(len(facts.segment))
    for day in MONTH:
        buyers = baskets_of(scale, day).customer
        weekly = buyers[facts.segment[buyers] == WEEKLY]
        on_their_day += np.sum(facts.weekday[weekly] == day.weekday())
        visits += len(weekly)
        lapsed = buyers[facts.segment[buyers] == LAPSED]
        assert np.all(facts.lapses[lapsed] > np.datetime64(day, "D").astype(np.int64))
        counts += np.bincount(buyers, minlength=len(counts))
    assert on_their_day / visits > 0.35  # chance: 1/7
    by_segment = [counts[facts.segment == s].mean() for s in (WEEKLY, OCCASIONAL)]
    assert by_segment[0] > 4 * by_segment[1]


def test_new_customers_buy_soon_after_signing_up(scale: str) -> None:
    settings = SCALES[scale]
    facts = customer_facts(settings, customers_through(settings, MONTH[-1]))
    never = len(MONTH)
    first_purchase = np.full(len(facts.created), never)
    for offset, day in enumerate(MONTH):
        buyers = baskets_of(scale, day).customer
        first_purchase[buyers] = np.minimum(first_purchase[buyers], offset)
    start = customers_through(settings, MONTH[0] - dt.timedelta(days=1))
    stop = customers_through(settings, MONTH[-8])  # signed up at least a week before the end
    signup_day = facts.created[start:stop] // 86_400 - np.datetime64(MONTH[0], "D").astype(int)
    bought = first_purchase[start:stop] < never
    waits = first_purchase[start:stop][bought] - signup_day[bought]
    assert bought.all() and np.all(waits == 0)  # the account is made at the first purchase


def test_lines_per_basket_are_mostly_few_with_a_tail_and_differ_by_channel(scale: str) -> None:
    """At the default sizes over a week: a day has some 100 web orders, and households'
    spend tiers make a day's mean lines noisy (one heavy household's trolley moves it)."""
    online = store_facts(SCALES[scale].seed, "en_US", SCALES[scale].sizes.stores).online
    days = MONTH[:7] if scale == "default" else [MONDAY]
    size = np.concatenate([day_of(scale, day).size for day in days])
    is_online = online[np.concatenate([day_of(scale, day).store for day in days])]
    assert np.mean(size <= 4) >= 0.75 and size.max() >= 8
    assert size[~is_online].mean() > size[is_online].mean() + 0.5


def test_a_basket_never_repeats_a_product_and_its_lines_are_related(scale: str) -> None:
    baskets = day_of(scale, MONDAY)
    key = baskets.basket_of_line.astype(np.int64) * 1_000_000 + baskets.product
    assert len(np.unique(key)) == len(key)
    category = day_plan(SCALES[scale], MONDAY).product_category[baskets.product]
    first = np.cumsum(baskets.size) - baskets.size
    later = np.ones(len(key), bool)
    later[first] = False
    same = category[later] == category[first][baskets.basket_of_line[later]]
    chance = np.sum((np.bincount(category) / len(category)) ** 2)
    assert same.mean() > chance + 0.15


def _complement_matrix(cross: bool) -> np.ndarray:
    """kinds x kinds: True where the second is a complement of the first (catalog.toml);
    cross: only complements of another category."""
    matrix = np.zeros((len(KINDS), len(KINDS)), dtype=bool)
    for kind, found in enumerate(COMPLEMENTS):
        matrix[kind, list(found)] = True
    category = np.array([kind.category for kind in KINDS])
    return matrix & (category[:, None] != category[None, :]) if cross else matrix


@pytest.mark.parametrize("cross", [False, True], ids=["complements", "across categories"])
def test_complementary_items_are_bought_together(scale: str, cross: bool) -> None:
    """After a first line with complements (a phone: a charger...), later lines are of
    those kinds far more often than the day's lines are."""
    complement = _complement_matrix(cross)
    observed = chance = lines = 0.0
    for day in MONTH[:7] if scale == "default" else [MONDAY]:  # 50 products: few kinds
        baskets, plan = day_of(scale, day), day_plan(SCALES[scale], day)
        kind = plan.product_kind[baskets.product]
        later = np.ones(len(kind), dtype=bool)
        later[np.cumsum(baskets.size) - baskets.size] = False
        first_kind = kind[~later][baskets.basket_of_line[later]]
        has = complement[first_kind].any(axis=1)
        share = np.bincount(kind, minlength=len(KINDS)) / len(kind)  # as the day sells
        observed += complement[first_kind, kind[later]][has].sum()
        chance += (complement @ share)[first_kind][has].sum()
        lines += has.sum()
    assert lines >= 50
    assert observed / lines > 2 * chance / lines and observed / lines > chance / lines + 0.05


def local_offsets(locale: str, day: dt.date) -> np.ndarray:
    """Hours from UTC of each of the locale's zones at noon UTC on `day`, by zoneinfo."""
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
    offsets = [noon.astimezone(zoneinfo.ZoneInfo(z)).utcoffset() for z in zone_names(locale)]
    return np.array([offset.total_seconds() // 3600 for offset in offsets], dtype=np.int64)


def test_retail_sells_in_local_opening_hours(scale: str) -> None:
    settings = SCALES[scale]
    stores = store_facts(settings.seed, settings.locale, settings.sizes.stores)
    for day in (MONDAY, MONDAY + dt.timedelta(days=5)):
        baskets = day_of(scale, day)
        retail = ~stores.online[baskets.store]
        store = baskets.store[retail]
        offset = local_offsets(settings.locale, day)[stores.zone[store]]
        local = (baskets.second[retail] // 3600 + offset) % 24
        assert np.all((local >= stores.open_hour[store]) & (local < stores.close_hour[store]))
        assert np.mean(local < 6) <= 0.01
        assert len(np.unique(offset)) == 1 or len(np.unique(offset)) >= 3  # US: several zones


@pytest.mark.parametrize(
    ("sizes", "chunk_size"),
    [({}, None), ({"customers": 1_000_000, "products": 10_000, "stores": 500}, 60_000)],
    ids=["default", "1M"],
)
def test_a_basket_s_lines_share_customer_store_time_and_payment_method(
    sizes: dict, chunk_size: int | None, tmp_path
) -> None:
    """In the transactions file itself (at 1M: its first chunk of 60,000 lines): a
    basket_id is one receipt, and baskets have several lines."""
    import csv

    from customer_pipeline.generate.transactions import generate_transactions

    settings = Settings().replace(**sizes, transactions=1_000 if not sizes else 1_000_000)
    if chunk_size:
        settings = settings.replace(chunk_size=chunk_size)
    generated = generate_transactions(settings, tmp_path, MONDAY)
    receipts: dict[str, set] = {}
    lines: dict[str, int] = {}
    with open(generated.path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            shared = (row["customer_id"], row["store_id"], row["transaction_date"])
            receipts.setdefault(row["basket_id"], set()).add((*shared, row["payment_method"]))
            lines[row["basket_id"]] = lines.get(row["basket_id"], 0) + 1
    assert all(len(fields) == 1 for fields in receipts.values())
    assert np.mean(np.array(list(lines.values())) > 1) >= 0.3


def test_no_basket_exceeds_its_limit_and_the_tail_reaches_it(scale: str) -> None:
    """A basket has at most basket_limit(products on sale) lines (8 in the default catalog)
    and its channel's most (30 in a shop, 20 online); a month's tail reaches the limit."""
    from customer_pipeline.generate.transactions import MOST_LINES, basket_limit

    settings = SCALES[scale]
    largest = 0
    for day in MONTH if scale == "default" else MONTH[:2]:
        plan, whole = day_plan(settings, day), day_of(scale, day)
        limit = basket_limit(len(plan.price_cents))
        online = plan.store_online[whole.store]
        most = np.where(online, MOST_LINES["Online"], MOST_LINES["Retail"])
        assert np.all((whole.size >= 1) & (whole.size <= np.minimum(limit, most))), day
        largest = max(largest, int(whole.size.max()))
    assert largest >= min(limit, 20)


def test_online_sells_along_each_customer_s_local_day(scale: str) -> None:
    """An online basket's UTC time follows its customer's own zone: the zone of the state
    they live in when the day starts (their customers version then, mapped by the time
    zone table, offset by zoneinfo). In local time Pacific and Eastern customers shop
    alike; by the country's mix of zones instead, the Pacific's local hours would run
    about three hours earlier than the East's."""
    import tomllib
    from importlib.resources import files

    from customer_pipeline.generate.customer_changes import versions

    settings = SCALES[scale]
    table = files("customer_pipeline").joinpath("data/timezones.toml").read_text(encoding="utf-8")
    zone_of_state = tomllib.loads(table)["state_zones"][settings.locale]
    stores = store_facts(settings.seed, settings.locale, settings.sizes.stores)
    local_hours: dict[str, list[np.ndarray]] = {"America/New_York": [], "America/Los_Angeles": []}
    two_months = [MONDAY + dt.timedelta(days=i) for i in range(56)]
    for day in two_months if scale == "default" else MONTH[:1]:
        baskets = day_of(scale, day)
        returning = customers_through(settings, day - dt.timedelta(days=1))
        online = stores.online[baskets.store] & (baskets.customer < returning)
        customer, first = np.unique(baskets.customer[online], return_inverse=True)
        before = int(np.datetime64(day - dt.timedelta(days=1), "D").astype(np.int64))
        states = versions(settings, customer, before)[6]
        zones = np.array([zone_of_state[s.decode()] for s in states])[first]
        noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        for zone, hours in local_hours.items():
            offset = noon.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset().total_seconds() // 3600
            utc = baskets.second[online][zones == zone] // 3600
            hours.append((utc + offset) % 24)
    east, pacific = (np.concatenate(hours) for hours in local_hours.values())
    assert min(len(east), len(pacific)) >= 800
    # the local hours' circular means: 16.4 h for the online profile, both; by the mix of
    # zones 17.3 h in the East and 14.3 h on the Pacific (their difference's standard
    # error: about 0.35 h at the default sizes, 0.05 h at the 1M scale)
    apart = (circular_mean_hour(east) - circular_mean_hour(pacific) + 12) % 24 - 12
    assert abs(apart) < 1.5
    # in both, the evening is the online profile's busiest time, the small hours its least
    for hours in (east, pacific):
        assert np.mean((hours >= 19) & (hours < 23)) > 4 * np.mean((hours >= 2) & (hours < 6))


def circular_mean_hour(hours: np.ndarray) -> float:
    """The mean of hours of the day on the clock's circle (23 h and 1 h average to 0 h)."""
    angle = np.angle(np.exp(2j * np.pi * hours / 24).mean())
    return float(angle * 24 / (2 * np.pi)) % 24


def test_people_sign_up_in_their_own_waking_hours(scale: str) -> None:
    """created_at of a sign-up, read as text and put in the customer's zone (their state's,
    by the time zone table and zoneinfo): few sign-ups in the small hours (1-5 am local:
    about 3% by the online profile, 17% if the hour were uniform, as it was), and at the
    1M scale Pacific and Eastern customers sign up at the same local hours."""
    import tomllib
    from importlib.resources import files

    from customer_pipeline.generate.customer_changes import versions

    settings = SCALES[scale]
    table = files("customer_pipeline").joinpath("data/timezones.toml").read_text(encoding="utf-8")
    zone_of_state = tomllib.loads(table)["state_zones"][settings.locale]
    first, last = (
        (dt.date(2025, 1, 1), dt.date(2026, 12, 31))
        if scale == "default"
        else (MONDAY, MONDAY + dt.timedelta(days=6))
    )
    index = np.arange(
        customers_through(settings, first - dt.timedelta(days=1)), customers_through(settings, last)
    )
    columns = versions(settings, index, int(np.datetime64(last, "D").astype(np.int64)))
    hours: dict[str, list[int]] = {}
    for state, created in zip(columns[6], csvfile_text(columns[11]), strict=True):
        zone = zone_of_state[state.decode()]
        local = dt.datetime.fromisoformat(created).astimezone(zoneinfo.ZoneInfo(zone))
        hours.setdefault(zone, []).append(local.hour)
    every = np.concatenate([np.array(h) for h in hours.values()])
    assert len(every) >= 800
    assert np.mean((every >= 1) & (every < 5)) < 0.08
    if scale == "1M":
        east, pacific = (np.array(hours[z]) for z in ("America/New_York", "America/Los_Angeles"))
        apart = (circular_mean_hour(east) - circular_mean_hour(pacific) + 12) % 24 - 12
        assert abs(apart) < 1.0


def csvfile_text(column: np.ndarray) -> list[str]:
    """A column of the customers file's (a matrix of NUL-padded text) as strings."""
    from customer_pipeline.generate.csvfile import matrix

    return [bytes(row).strip(b"\0").decode() for row in matrix(column)]
