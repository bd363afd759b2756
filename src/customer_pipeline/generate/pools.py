"""Value pools: Faker's weighted draws, made once on purpose and shipped with the package.

Rows sample the pools (names, streets, cities, postcodes, companies, states, e-mail
domains, the country) with numpy, never Faker. The pools of each locale are package
data, ``data/pools/<locale>.json`` (UTF-8, values unquoted), listed in
``data/pools/manifest.json`` with their sha256 and the Faker and Python versions that
drew them. Generating reads them and never imports Faker: upgrading Faker changes
nothing in the data. ``python -m customer_pipeline.generate.pools rebuild [--locale X]``
draws them again with the installed Faker, which changes the dataset: only on purpose.

The pools do not depend on the dataset's seed (the seed varies every row through the
numpy streams). A pool keeps Faker's weights: it is Faker's draws, stored as each value
with the number of times it was drawn, so common names come up more often. Where
Faker's provider knows each state's postcode range (en_US: its ZIP codes), the file holds
them too (``state_postcodes``) and a customer's postcode is drawn within its state's
(postcode_column); elsewhere postcodes are drawn apart from the state. States are drawn by
their people where ``data/populations.toml`` has the locale's (en_US), else evenly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import numpy as np

from customer_pipeline.generate.csvfile import integers, quote
from customer_pipeline.settings import LOCALES

#: Bumped whenever the files' layout or the way they become Pools changes: part of
#: pools_version, so a dataset made from another format is recognised.
POOLS_FORMAT = 1
#: Draws per pool: enough for Faker's weights to show (en_US has about 700 first and 1000
#: last names) and for combinations not to repeat visibly.
POOL_SIZES = {
    "first_names": 1500,
    "last_names": 1500,
    "streets": 1500,
    "cities": 800,
    "postcodes": 1500,
    "companies": 800,
}
#: Longest value kept per pool (longer draws are dropped when the pools are built).
MAX_LENGTHS = {"streets": 200, "postcodes": 20}
MAX_LENGTH = 50
BUILD_SEED = 0  # Faker's seed when the pools are built: the same for every locale
MANIFEST = "manifest.json"
SHIPPED = files("customer_pipeline").joinpath("data/pools")
SOURCE_DIR = Path(__file__).resolve().parent.parent / "data" / "pools"  # where rebuild writes


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
    #: per state (states' order), its first and last postcode, where the locale's Faker
    #: knows them (en_US: each state's ZIP code range); None: postcodes are drawn alone
    state_postcodes: np.ndarray | None
    email_domains: np.ndarray
    companies: np.ndarray
    country: bytes


# -- reading the shipped pools (no Faker) ----------------------------------------------------


@cache
def _shipped_bytes(locale: str) -> bytes:
    if locale not in LOCALES:
        raise ValueError(f"no value pools for locale {locale!r}: choose one of {LOCALES}")
    return SHIPPED.joinpath(f"{locale}.json").read_bytes()


#: Each locale's states' people (data/populations.toml), where it has them: the weights
#: of the customers' states.
_POPULATIONS: dict[str, dict[str, int]] = tomllib.loads(
    files("customer_pipeline").joinpath("data/populations.toml").read_text(encoding="utf-8")
)
#: A state is drawn from its people in units of this many thousands.
_PEOPLE_PER_DRAW = 10


def pools_version(locale: str) -> str:
    """The identity of the locale's pools: the format and the shipped file's digest (and
    its states' people, where it has them). Two datasets with the same seed, sizes and
    pools_version have the same content."""
    data = _shipped_bytes(locale)
    if locale in _POPULATIONS:
        data += json.dumps(_POPULATIONS[locale], sort_keys=True).encode()
    return f"{POOLS_FORMAT}-{hashlib.sha256(data).hexdigest()[:16]}"


def _weighted(values: np.ndarray, counts: dict[str, int]) -> np.ndarray:
    """values[i] (made from the i-th key of counts) as many times as Faker drew the key:
    the pool's weights."""
    return np.repeat(values, list(counts.values()))


def _ascii(values: Iterable[str]) -> np.ndarray:
    return np.array([value.encode("ascii") for value in values], dtype=np.bytes_)


@cache
def pools(locale: str) -> Pools:
    """The shipped pools of one locale, read once per process."""
    document = json.loads(_shipped_bytes(locale))
    first, last, slugs = document["first_names"], document["last_names"], document["email_names"]

    def weighted(pool: str) -> np.ndarray:
        return _weighted(quote(document[pool]), document[pool])

    # a state as many times as its people (in _PEOPLE_PER_DRAW thousands), or once each
    states, people = document["states"], _POPULATIONS.get(locale)
    per_state = [max(1, round(people[s] / _PEOPLE_PER_DRAW)) if people else 1 for s in states]
    ranges = document.get("state_postcodes")

    return Pools(
        first_names=weighted("first_names"),
        last_names=weighted("last_names"),
        surnames=tuple(name for name, count in last.items() for _ in range(count)),
        first_name_slugs=_weighted(_ascii(slugs[name] for name in first), first),
        last_name_slugs=_weighted(_ascii(slugs[name] for name in last), last),
        streets=weighted("streets"),
        cities=weighted("cities"),
        states=np.repeat(quote(states), per_state),
        postcodes=weighted("postcodes"),
        state_postcodes=(
            np.repeat(np.array([ranges[state] for state in states]), per_state, axis=0)
            if ranges
            else None
        ),
        email_domains=_ascii(document["email_domains"]),
        companies=weighted("companies"),
        country=quote([document["country"]])[0],
    )


def postcode_column(pool: Pools, state: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The postcodes of rows in `state` (indexes into pool.states) at quantile `where`
    (uniform in [0, 1)): within the state's range where the locale has them (five digits,
    zero-padded), else a draw of the postcodes pool."""
    if pool.state_postcodes is None:
        return pool.postcodes[(where * len(pool.postcodes)).astype(np.int64)]
    first, last = pool.state_postcodes[state].T
    code = first + (where * (last - first + 1)).astype(np.int64)
    width = len(str(int(pool.state_postcodes.max())))
    return integers(code + 10**width, width=width + 1)[:, 1:]  # the leading 1 keeps zeros


# -- building them with Faker (on purpose only) ----------------------------------------------


def _counts(method: Callable[[], str], pool: str) -> dict[str, int]:
    """`method` drawn POOL_SIZES[pool] times, too long values dropped: each value with
    its count, the most frequent first."""
    longest = MAX_LENGTHS.get(pool, MAX_LENGTH)
    drawn = Counter(value for value in (method() for _ in range(POOL_SIZES[pool])))
    kept = [(value, n) for value, n in drawn.items() if len(value) <= longest]
    return dict(sorted(kept, key=lambda item: (-item[1], item[0])))


def _distinct(method: Callable[[], str], draws: int) -> list[str]:
    return sorted({value for value in (method() for _ in range(draws)) if len(value) <= MAX_LENGTH})


def _slug(text: str, unidecode: Callable[[str], str]) -> str:
    return re.sub(r"[^a-z0-9]", "", unidecode(text).lower())[:20] or "x"


def draw_pools(locale: str) -> dict[str, object]:
    """One locale's pools drawn with the installed Faker: the document of its file."""
    from faker import Faker
    from faker.decode import unidecode

    fake = Faker(locale)
    fake.seed_instance(BUILD_SEED)
    names = {
        "first_names": _counts(fake.first_name, "first_names"),
        "last_names": _counts(fake.last_name, "last_names"),
    }
    state = getattr(fake, "administrative_unit", None) or fake.state
    document = {  # in this order: each pool's draws follow the previous pool's
        "locale": locale,
        "country": fake.current_country(),
        **names,
        "email_names": {
            name: _slug(name, unidecode) for pool in names.values() for name in sorted(pool)
        },
        "streets": _counts(fake.street_address, "streets"),
        "cities": _counts(fake.city, "cities"),
        "states": _distinct(state, 500),
        "postcodes": _counts(fake.postcode, "postcodes"),
        "companies": _counts(fake.company, "companies"),
        "email_domains": _distinct(fake.free_email_domain, 200),
    }
    return document | _state_postcodes(fake, document["states"])


def _state_postcodes(fake, states: list[str]) -> dict[str, dict[str, list[int]]]:
    """{"state_postcodes": {state: [first, last]}} where the locale's provider has each
    state's postcode range (en_US: states_postcode, by abbreviation), else nothing.
    en_US lists the states' names and their abbreviations in the same alphabetical order,
    the latter with the District of Columbia's too."""
    provider = fake.provider("faker.providers.address")
    ranges = getattr(provider, "states_postcode", None)
    names = getattr(provider, "states", ())
    codes = [code for code in getattr(provider, "states_abbr", ()) if code != "DC"]
    if not ranges or len(names) != len(codes):
        return {}
    abbreviations = dict(zip(names, codes, strict=True))
    if any(name[0] != code[0] for name, code in abbreviations.items()):
        return {}
    if not all(abbreviations.get(state) in ranges for state in states):
        return {}
    return {"state_postcodes": {state: list(ranges[abbreviations[state]]) for state in states}}


def _json_bytes(document: object) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode()


def _write_drawn(locales: Sequence[str], out_dir: str) -> None:
    """Draw every locale first, then write the files (a failed draw writes nothing)."""
    documents = {locale: _json_bytes(draw_pools(locale)) for locale in locales}
    for locale, data in documents.items():
        (Path(out_dir) / f"{locale}.json").write_bytes(data)


def _build_facts() -> dict[str, str]:
    """What the drawn files depend on besides the locale: Faker, and Python's random and
    str hashing (the major.minor version)."""
    return {"faker": version("faker"), "python": "{}.{}".format(*sys.version_info)}


def rebuild_pools(locales: Sequence[str], out_dir: Path) -> list[Path]:
    """Draw the pools of `locales` with the installed Faker into out_dir, one file per
    locale, and update out_dir's manifest; return the files written (the manifest last).

    The draws run in a fresh interpreter with a fixed str hash seed: some of Faker's lists
    are made from sets (it_IT's cities), whose order follows the hash seed of the process.
    This changes the dataset of every schema on these locales: run it on purpose only.
    """
    unknown = sorted(set(locales) - set(LOCALES))
    if unknown:
        raise ValueError(f"no such locale: {', '.join(unknown)} (known: {', '.join(LOCALES)})")
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_bytes()) if manifest_path.exists() else {}
    same_format = manifest.get("format", POOLS_FORMAT) == POOLS_FORMAT
    if not same_format and set(locales) != set(LOCALES):
        raise ValueError(f"the pools' format is now {POOLS_FORMAT}: rebuild every locale")
    out_dir.mkdir(parents=True, exist_ok=True)
    draw = "import sys; from customer_pipeline.generate.pools import _write_drawn;"
    draw += "_write_drawn(sys.argv[2:], sys.argv[1])"
    subprocess.run(  # noqa: S603 (this interpreter, this module, locales checked above)
        [sys.executable, "-c", draw, str(out_dir), *locales],
        env=os.environ | {"PYTHONHASHSEED": "0"},
        check=True,
    )
    entries = manifest.get("files", {}) if same_format else {}
    written = [out_dir / f"{locale}.json" for locale in locales]
    for path in written:
        entries[path.name] = _build_facts() | {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()
        }
    manifest = {"format": POOLS_FORMAT, "files": dict(sorted(entries.items()))}
    manifest_path.write_bytes(_json_bytes(manifest))
    return [*written, manifest_path]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m customer_pipeline.generate.pools",
        description="Draw the shipped value pools again with the installed Faker. This "
        "changes the generated data of every dataset on these locales: only on purpose.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="draw the pools and update the manifest")
    rebuild.add_argument(
        "--locale", action="append", choices=LOCALES, help="only this locale (repeatable)"
    )
    rebuild.add_argument("--out", type=Path, default=SOURCE_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    for path in rebuild_pools(args.locale or LOCALES, args.out):
        print(path)


if __name__ == "__main__":
    main()
