"""customers: a stable population; customer i is the same row on every date and run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import Table, gather, stream, uuid4
from customer_pipeline.settings import BLOCK_ROWS, Settings

COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "address",
    "city",
    "state",
    "country",
    "postal_code",
    "date_of_birth",
    "account_balance",
    "created_at",
)
FILE_NAME = "customers.csv"
SIGNUP_YEARS = 3  # the population signed up in the years before the history start


def customer_ids(seed: int, start: int, stop: int) -> np.ndarray:
    """The ids (S36 UUID text) of customers [start, stop), computed without Faker."""
    return gather(start, stop, lambda b: uuid4(stream(seed, Table.CUSTOMER_IDS, 0, b), BLOCK_ROWS))


def _block(settings: Settings, block: int) -> list[np.ndarray]:
    pool = pools(settings.seed, settings.locale)
    rng = stream(settings.seed, Table.CUSTOMERS, 0, block)
    n = BLOCK_ROWS

    def pick(values: np.ndarray) -> np.ndarray:
        return values[rng.integers(0, len(values), n)]

    first_i = rng.integers(0, len(pool.first_names), n)
    last_i = rng.integers(0, len(pool.last_names), n)
    number = csvfile.integers(np.arange(block * n + 1, block * n + n + 1))  # makes emails unique
    email = np.strings.add(pool.first_name_slugs[first_i], b".")
    email = np.strings.add(np.strings.add(email, pool.last_name_slugs[last_i]), number)
    email = np.strings.add(np.strings.add(email, b"@"), pick(pool.email_domains))

    start = np.datetime64(settings.history_start, "D")
    age_years = np.clip(rng.normal(42, 15, n), 18, 85)
    born = start - np.ceil(age_years * 365.25).astype("timedelta64[D]")
    balance = np.clip(rng.lognormal(np.log(250_000), 1.4, n), 0, 100_000_000).astype(np.int64)
    signup_seconds = SIGNUP_YEARS * 365 * 86_400
    created = start.astype("datetime64[s]") - rng.integers(1, signup_seconds, n).astype(
        "timedelta64[s]"
    )
    return [
        customer_ids(settings.seed, block * n, block * n + n),
        pool.first_names[first_i],
        pool.last_names[last_i],
        email,
        pick(pool.streets),
        pick(pool.cities),
        pick(pool.states),
        np.full(n, pool.country),
        pick(pool.postcodes),
        csvfile.dates(born),
        csvfile.money(balance),
        csvfile.timestamps_utc(created),
    ]


def generate_customers(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the customers file for `day` (the whole population, date independent for now)."""
    del day  # the population does not change by date yet; the signature is the steps' one
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(
        path, COLUMNS, 0, settings.sizes.customers, lambda block: _block(settings, block)
    )
    return csvfile.GeneratedFile("customers", str(path), rows)
