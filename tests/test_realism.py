"""Realism: each statistical effect of the generator, tested so that removing it fails."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from conftest import as_of, generate_day, read_csv
from customer_pipeline.generate.calendar import customers_through, transaction_count
from customer_pipeline.settings import LOCALES, Settings

MONDAY = dt.date(2026, 11, 16)
WEEK = [MONDAY + dt.timedelta(days=i) for i in range(7)]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A week of data at a moderate scale: dimensions of the last day, every transaction."""
    settings = Settings().replace(customers=30_000, products=600, stores=40, transactions=15_000)
    folder = tmp_path_factory.mktemp("week")
    days: dict[dt.date, list[dict[str, str]]] = {}
    for day in WEEK:
        files = generate_day(settings, folder / day.isoformat(), day)
        days[day] = [row for f in files if f.table == "transactions" for row in read_csv(f.path)]
    dims = {f.table: read_csv(f.path) for f in files if f.table != "transactions"}
    dims.update(as_of(settings, WEEK[-1]))
    return {"settings": settings, "days": days, **dims}


def all_transactions(week: dict) -> list[dict[str, str]]:
    return [row for rows in week["days"].values() for row in rows]


def test_customers_accumulate_and_never_buy_before_signing_up(week: dict) -> None:
    settings = week["settings"]
    counts = [customers_through(settings, day) for day in WEEK]
    assert counts == sorted(counts) and counts[-1] > counts[0] > settings.sizes.customers
    created = {
        c["customer_id"]: dt.datetime.fromisoformat(c["created_at"]) for c in week["customers"]
    }
    first_day_buyers = 0
    for day, rows in week["days"].items():
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        returning = 0
        for row in rows:
            signed_up = created[row["customer_id"]]
            assert signed_up <= dt.datetime.fromisoformat(row["transaction_date"])
            returning += signed_up < midnight
        first_day_buyers += len(rows) - returning
        assert returning / len(rows) > 0.9  # most of a day's sales come from returning customers
    assert first_day_buyers > 0  # ... and some from people who signed up that day


def test_top_tenth_of_customers_make_40_percent_of_sales(week: dict) -> None:
    sales: dict[str, Decimal] = defaultdict(Decimal)
    for row in all_transactions(week):
        sales[row["customer_id"]] += Decimal(row["transaction_amount"])
    ranked = sorted(sales.values(), reverse=True)
    top = ranked[: len(week["customers"]) // 10]
    assert sum(top) / sum(ranked) >= Decimal("0.40")


def test_sales_follow_opening_hours_and_the_hour_of_day(week: dict) -> None:
    stores = {s["store_id"]: s for s in week["stores"]}
    assert {s["store_type"] for s in stores.values()} == {"Retail", "Online"}
    online_hours = Counter()
    retail_hours = {"weekday": Counter(), "weekend": Counter()}
    for day, rows in week["days"].items():
        kind = "weekend" if day.weekday() >= 5 else "weekday"
        for row in rows:
            store = stores[row["store_id"]]
            moment = dt.datetime.fromisoformat(row["transaction_date"])
            hour = moment.astimezone(zoneinfo.ZoneInfo(store["timezone"])).hour
            if store["store_type"] == "Online":
                assert (store["open_hour"], store["close_hour"]) == ("0", "24")
                online_hours[hour] += 1
            else:
                assert int(store["open_hour"]) <= hour < int(store["close_hour"])
                retail_hours[kind][hour] += 1
    assert all(online_hours[h] > 0 for h in range(24))  # online sells around the clock
    night = sum(online_hours[h] for h in (2, 3, 4))
    evening = sum(online_hours[h] for h in (19, 20, 21))
    assert night < evening / 4  # ... with a night dip
    assert not any(retail_hours["weekday"][h] for h in range(0, 7))

    def midday_share(counts: Counter) -> float:
        return sum(counts[h] for h in range(11, 16)) / sum(counts.values())

    assert midday_share(retail_hours["weekend"]) > midday_share(retail_hours["weekday"]) + 0.05


def test_the_calendar_shapes_daily_volume() -> None:
    settings = Settings().replace(transactions=1_000_000)

    def mean_count(days: list[dt.date]) -> float:
        return float(np.mean([transaction_count(settings, d) for d in days]))

    def weekdays(start: dt.date, weekday: int, n: int = 8) -> list[dt.date]:
        first = start + dt.timedelta(days=(weekday - start.weekday()) % 7)
        return [first + dt.timedelta(weeks=i) for i in range(n)]

    # weekends differ from weekdays
    assert mean_count(weekdays(dt.date(2025, 3, 1), 5)) > 1.25 * mean_count(
        weekdays(dt.date(2025, 3, 1), 1)
    )
    # December peaks: a December Wednesday beats a February one
    assert transaction_count(settings, dt.date(2025, 12, 17)) > 1.4 * transaction_count(
        settings, dt.date(2025, 2, 19)
    )
    # gentle growth over the years: the same season five years apart
    late = mean_count(weekdays(dt.date(2025, 9, 1), 2))
    early = mean_count(weekdays(dt.date(2020, 9, 1), 2))
    assert 1.08 < late / early < 1.25
    # a typical day (in the reference year) is about --transactions
    year = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(0, 365, 3)]
    assert 0.95 < mean_count(year) / 1_000_000 < 1.05


def test_quantities_are_mostly_small_with_a_tail(week: dict) -> None:
    quantities = Counter(int(row["quantity"]) for row in all_transactions(week))
    total = sum(quantities.values())
    assert sum(quantities[q] for q in (1, 2, 3)) / total >= 0.85
    assert quantities[1] > quantities[2] > quantities[3]
    assert max(quantities) >= 7


def test_payment_mix_depends_on_the_channel(week: dict) -> None:
    types = {s["store_id"]: s["store_type"] for s in week["stores"]}
    mix = {"Retail": Counter(), "Online": Counter()}
    for row in all_transactions(week):
        mix[types[row["store_id"]]][row["payment_method"]] += 1
    assert mix["Online"]["Cash"] == 0
    assert mix["Retail"]["Cash"] / sum(mix["Retail"].values()) > 0.2
    paypal = {k: v["PayPal"] / sum(v.values()) for k, v in mix.items()}
    assert paypal["Online"] > paypal["Retail"] + 0.1


def test_people_look_like_people(week: dict) -> None:
    customers = week["customers"]
    emails = [c["email"] for c in customers]
    assert len(set(emails)) == len(emails)
    for c in customers[:500]:
        local = c["email"].split("@")[0]
        first, _, rest = local.partition(".")
        assert first == "".join(ch for ch in c["first_name"].lower() if ch.isalnum())
        assert rest.startswith("".join(ch for ch in c["last_name"].lower() if ch.isalnum()))
        # 18 to 85 at sign-up (an initial customer's: the history start at the latest)
        signed_up = min(dt.datetime.fromisoformat(c["created_at"]).date(), dt.date(2020, 1, 1))
        age = (signed_up - dt.date.fromisoformat(c["date_of_birth"])).days / 365.25
        assert 18 <= age < 85.01
    assert Counter(c["country"] for c in customers) == Counter({"United States": len(customers)})
    assert len({c["city"] for c in customers}) > 500
    first_3000 = customers[:3000]  # common names repeat
    assert len({(c["first_name"], c["last_name"]) for c in first_3000}) > 0.85 * len(first_3000)


@pytest.mark.parametrize(("locale", "country"), [("de_DE", "Germany"), ("fr_FR", "France")])
def test_other_locales(locale: str, country: str, tmp_path: Path) -> None:
    settings = Settings().replace(locale=locale, customers=500, transactions=100)
    generate_day(settings, tmp_path, WEEK[0])
    files = as_of(settings, WEEK[0])
    assert {c["country"] for c in files["customers"]} == {country}
    assert all(c["email"].isascii() for c in files["customers"])
    assert len({c["state"] for c in files["customers"]}) > 5


def country_zones(code: str) -> set[str]:
    """The IANA zones of an ISO 3166 country, from the tz database's own zone.tab (the
    tzdata package's copy: the same on every machine)."""
    from importlib.resources import files

    table = files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and line[0] != "#")
    return {row[2] for row in rows if row[0] == code}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_stores_time_zones_are_their_country_s(locale: str) -> None:
    """Checked against the tz database, not the generator's own table; the US has several."""
    from customer_pipeline.generate.stores import store_facts, zone_names

    zones = np.array(zone_names(locale))[store_facts(42, locale, 500).zone]
    assert set(zones) <= country_zones(locale.split("_")[1])
    if locale == "en_US":
        assert len(set(zones)) >= 4


@pytest.mark.parametrize("locale", ["en_US", "es_ES"])
def test_every_state_lives_in_a_zone_of_its_country(locale: str) -> None:
    """A country of several zones maps each of its states to one of them (the tz
    database's), and en_US's zone shares are its states' people (the census) by zone."""
    import tomllib
    from importlib.resources import files

    from customer_pipeline.generate.pools import pools
    from customer_pipeline.generate.stores import state_zones, zone_names, zone_weights

    data = files("customer_pipeline").joinpath("data")
    table = tomllib.loads(data.joinpath("timezones.toml").read_text(encoding="utf-8"))
    zones = table["state_zones"][locale]
    states = {next(csv.reader([s.decode()]))[0] for s in pools(locale).states}
    assert set(zones) == states
    assert set(zones.values()) == set(zone_names(locale))
    assert set(zones.values()) <= country_zones(locale.split("_")[1])
    lives_in = np.array(zone_names(locale))[state_zones(locale)]  # per pool entry
    if locale == "en_US":  # Hawaii and Alaska have their own
        assert {"Pacific/Honolulu", "America/Anchorage"} <= set(lives_in)
        people = tomllib.loads(data.joinpath("populations.toml").read_text(encoding="utf-8"))
        by_zone = dict.fromkeys(zone_names(locale), 0)
        for state, thousands in people[locale].items():
            by_zone[zones[state]] += thousands
        census = np.array(list(by_zone.values())) / sum(by_zone.values())
        assert np.allclose(zone_weights(locale), census, atol=0.001)
        # the customers' states (the pool, drawn evenly) spread over the zones the same way
        shares = np.array([np.mean(lives_in == zone) for zone in zone_names(locale)])
        assert np.allclose(shares, census, atol=0.001)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_offsets_of_many_days_are_each_day_s(locale: str) -> None:
    """stores.utc_offsets_on (a year's offsets from a few look-ups) agrees with zoneinfo
    on every day of seven years, the changes of the clocks included."""
    from customer_pipeline.generate.stores import utc_offsets, utc_offsets_on

    first = dt.date(2020, 1, 1)
    days = np.arange(7 * 366) + int(np.datetime64(first, "D").astype(np.int64))
    each = [utc_offsets(locale, first + dt.timedelta(days=i)) for i in range(len(days))]
    assert np.array_equal(utc_offsets_on(locale, days), np.array(each))
    assert len(np.unique(utc_offsets_on(locale, days)[:, 0])) == 2  # summer time
