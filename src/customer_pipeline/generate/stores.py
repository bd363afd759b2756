"""stores: retail stores in the locale's cities and online shops."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from customer_pipeline.generate import csvfile
from customer_pipeline.generate.catalog import ONLINE_SHARE, STORE_TYPES
from customer_pipeline.generate.pools import pools
from customer_pipeline.generate.streams import Table, gather, stream
from customer_pipeline.settings import BLOCK_ROWS, Settings

COLUMNS = ("store_id", "store_name", "location", "store_type")
FILE_NAME = "stores.csv"
_TYPES = np.array(STORE_TYPES, dtype=np.bytes_)


def _is_online(seed: int, block: int) -> np.ndarray:
    return stream(seed, Table.STORES, 0, block, part=0).random(BLOCK_ROWS) < ONLINE_SHARE


def store_is_online(seed: int, count: int) -> np.ndarray:
    """Whether stores 1..count are online shops (index 0 is store 1); no Faker needed."""
    return gather(0, count, lambda block: _is_online(seed, block))


def _block(settings: Settings, block: int) -> list[np.ndarray]:
    pool = pools(settings.seed, settings.locale)
    online = _is_online(settings.seed, block)
    rng = stream(settings.seed, Table.STORES, 0, block, part=1)
    first = block * BLOCK_ROWS + 1
    city = pool.cities[rng.integers(0, len(pool.cities), BLOCK_ROWS)]
    return [
        csvfile.integers(np.arange(first, first + BLOCK_ROWS)),
        pool.companies[rng.integers(0, len(pool.companies), BLOCK_ROWS)],
        np.where(online, pool.country, city),
        _TYPES[online.astype(np.intp)],
    ]


def generate_stores(settings: Settings, out_dir: Path, day: dt.date) -> csvfile.GeneratedFile:
    """Write the stores file (the same on every date)."""
    del day  # stores do not change by date
    path = out_dir / FILE_NAME
    rows = csvfile.write_blocks(
        path, COLUMNS, 0, settings.sizes.stores, lambda block: _block(settings, block)
    )
    return csvfile.GeneratedFile("stores", str(path), rows)
