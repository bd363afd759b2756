"""Value pools: Faker is called a few thousand times per (seed, locale), never per row.

Drawing the pools with Faker's own methods keeps its weights (common names come up
more often). Rows then sample the pools with numpy, about 400x faster than calling
Faker per row. Faker's output can change between its versions: the lock file pins it
and the runs table records it.

Building the pools takes about 0.3 s (Faker's weighted draws); every generating process
(each Airflow task is one) needs them. They are kept on disk in Settings.cache_dir, one
file per (seed, locale, Faker version, code that makes them), and read back in
milliseconds: the same values, byte for byte, as a fresh build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
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
    from faker.decode import unidecode

    return re.sub(r"[^a-z0-9]", "", unidecode(text).lower())[:20].encode() or b"x"


def _draw(method, n: int, *, max_len: int = 50, unique: bool = False) -> list[str]:
    values = [value for value in (method() for _ in range(n)) if len(value) <= max_len]
    return sorted(set(values)) if unique else values


_BUILDING = threading.Lock()


def pools(seed: int, locale: str, cache_dir: Path | None = None) -> Pools:
    """The pools for one (seed, locale): built (or read from cache_dir) once per process,
    even by several threads."""
    with _BUILDING:
        return _pools(seed, locale, cache_dir)


@cache
def _pools(seed: int, locale: str, cache_dir: Path | None) -> Pools:
    if cache_dir is None:
        return build_pools(seed, locale)
    path = cache_dir / f"pools-{cache_key(seed, locale)}.npz"
    # missing, truncated, foreign or unreadable: built again (and the file replaced)
    with contextlib.suppress(
        OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile
    ):
        return read_pools(path)
    built = build_pools(seed, locale)
    with contextlib.suppress(OSError):  # a read-only or full disk only costs the next build
        write_pools(path, built)
    return built


def build_pools(seed: int, locale: str) -> Pools:
    """Draw every pool with Faker (seeded by `seed`)."""
    from faker import Faker  # 0.1 s to import: only when pools are built

    fake = Faker(locale)
    fake.seed_instance(np.random.SeedSequence([seed, int(Table.POOLS)]).generate_state(1)[0].item())
    first = _draw(fake.first_name, POOL_SIZES["first"])
    last = _draw(fake.last_name, POOL_SIZES["last"])
    state = getattr(fake, "administrative_unit", None) or fake.state
    quote = csvfile.quote
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


# -- the cache -------------------------------------------------------------------------------


def cache_key(seed: int, locale: str) -> str:
    """Everything the pools depend on: seed, locale, Faker's version, and this module's and
    the CSV quoting's code (a changed draw or pool size is a new key, never a stale file)."""
    digest = hashlib.sha256(f"{seed}|{locale}|faker {version('faker')}".encode())
    for module in (__file__, csvfile.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:32]


def write_pools(path: Path, pools: Pools) -> None:
    """Save pools as .npz (no pickles), atomically: readers see the old file or the new."""
    arrays = {
        field.name: getattr(pools, field.name)
        for field in dataclasses.fields(Pools)
        if field.name not in ("surnames", "country")
    }
    arrays["surnames"] = np.array([name.encode() for name in pools.surnames], dtype=np.bytes_)
    arrays["country"] = np.array([pools.country], dtype=np.bytes_)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pools-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def read_pools(path: Path) -> Pools:
    with np.load(path, allow_pickle=False) as saved:
        values = {name: saved[name] for name in saved.files}
    values["surnames"] = tuple(name.decode() for name in values["surnames"])
    values["country"] = bytes(values["country"][0])
    return Pools(**values)
