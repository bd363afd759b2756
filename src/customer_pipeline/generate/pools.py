"""Value pools: Faker is called a few thousand times per (seed, locale), never per row.

Drawing the pools with Faker's own methods keeps its weights (common names come up
more often). Rows then sample the pools with numpy, about 400x faster than calling
Faker per row. Faker's output can change between its versions: the lock file pins it
and the runs table records it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np
from faker import Faker
from faker.decode import unidecode

from customer_pipeline.generate.csvfile import quote
from customer_pipeline.generate.streams import Table

#: Draws per pool: enough for Faker's weights to show (en_US has about 700 first and 1000
#: last names) and for combinations not to repeat visibly; few enough to build in 0.3 s.
POOL_SIZES = {
    "first": 1500,
    "last": 1500,
    "street": 1500,
    "city": 800,
    "postcode": 1500,
    "company": 800,
}


@dataclass(frozen=True)
class Pools:
    """CSV-ready (quoted, UTF-8) values to sample from, plus e-mail name parts."""

    first_names: np.ndarray
    last_names: np.ndarray
    surnames: tuple[str, ...]  # unquoted, for composing other values (brands)
    first_name_slugs: np.ndarray  # ascii, lower case, for e-mail local parts
    last_name_slugs: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    states: np.ndarray
    postcodes: np.ndarray
    email_domains: np.ndarray
    companies: np.ndarray
    country: bytes


def _slug(text: str) -> bytes:
    return re.sub(r"[^a-z0-9]", "", unidecode(text).lower())[:20].encode() or b"x"


def _draw(method, n: int, *, max_len: int = 50, unique: bool = False) -> list[str]:
    values = [value for value in (method() for _ in range(n)) if len(value) <= max_len]
    return sorted(set(values)) if unique else values


_BUILDING = threading.Lock()


def pools(seed: int, locale: str) -> Pools:
    """The pools for one (seed, locale); built once per process, even by several threads."""
    with _BUILDING:
        return _pools(seed, locale)


@cache
def _pools(seed: int, locale: str) -> Pools:
    fake = Faker(locale)
    fake.seed_instance(np.random.SeedSequence([seed, int(Table.POOLS)]).generate_state(1)[0].item())
    first = _draw(fake.first_name, POOL_SIZES["first"])
    last = _draw(fake.last_name, POOL_SIZES["last"])
    state = getattr(fake, "administrative_unit", None) or fake.state
    return Pools(
        first_names=quote(first),
        last_names=quote(last),
        surnames=tuple(last),
        first_name_slugs=np.array([_slug(v) for v in first], dtype=np.bytes_),
        last_name_slugs=np.array([_slug(v) for v in last], dtype=np.bytes_),
        streets=quote(_draw(fake.street_address, POOL_SIZES["street"], max_len=200)),
        cities=quote(_draw(fake.city, POOL_SIZES["city"])),
        states=quote(_draw(state, 500, unique=True)),
        postcodes=quote(_draw(fake.postcode, POOL_SIZES["postcode"], max_len=20)),
        email_domains=np.array(
            [d.encode() for d in _draw(fake.free_email_domain, 200, unique=True)], dtype=np.bytes_
        ),
        companies=quote(_draw(fake.company, POOL_SIZES["company"])),
        country=quote([fake.current_country()])[0],
    )
