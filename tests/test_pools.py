"""Value pools: shipped as package data, independent of the installed Faker."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from customer_pipeline.generate.pools import (
    MAX_LENGTH,
    MAX_LENGTHS,
    POOLS_FORMAT,
    SHIPPED,
    main,
    pools,
    pools_version,
    rebuild_pools,
)
from customer_pipeline.settings import LOCALES

COUNTRIES = {
    "en_US": "United States",
    "de_DE": "Germany",
    "fr_FR": "France",
    "en_GB": "United Kingdom",
    "es_ES": "Spain",
    "it_IT": "Italy",
    "nl_NL": "Kingdom of the Netherlands",
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(SHIPPED.joinpath("manifest.json").read_bytes())


def shipped(locale: str) -> bytes:
    return SHIPPED.joinpath(f"{locale}.json").read_bytes()


def test_the_shipped_files_match_the_manifest(manifest: dict) -> None:
    assert manifest["format"] == POOLS_FORMAT
    assert sorted(manifest["files"]) == sorted(f"{locale}.json" for locale in LOCALES)
    for locale in LOCALES:
        entry = manifest["files"][f"{locale}.json"]
        assert hashlib.sha256(shipped(locale)).hexdigest() == entry["sha256"], locale


def test_rebuilding_with_the_same_faker_reproduces_the_shipped_files(
    manifest: dict, tmp_path: Path
) -> None:
    """In a fresh interpreter, whatever this one's hash seed (it_IT's cities depend on it)."""
    installed = {"faker": version("faker"), "python": "{}.{}".format(*sys.version_info)}
    same = [
        locale
        for locale in LOCALES
        if manifest["files"][f"{locale}.json"].items() >= installed.items()
    ]
    if not same:
        pytest.skip(f"the pools were built with other versions than those installed: {installed}")
    for path in rebuild_pools(same, tmp_path)[:-1]:
        assert path.read_bytes() == shipped(path.stem), path.name


def generate_in_a_fresh_process(folder: Path, hash_seed: str = "0") -> list[str]:
    """A whole it_IT day's files written into folder by a new interpreter; what it printed:
    the rows written and whether Faker was imported."""
    script = textwrap.dedent("""
        import datetime as dt, sys
        from pathlib import Path
        from conftest import generate_day
        from customer_pipeline.settings import Settings
        settings = Settings().replace(customers=300, stores=2000, locale="it_IT")
        made = generate_day(settings, Path(sys.argv[1]), dt.date(2026, 11, 20))
        print(sum(file.rows for file in made), "faker" in sys.modules)
    """)
    run = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        env=os.environ | {"PYTHONHASHSEED": hash_seed},
    )
    return run.stdout.split()


def test_generation_does_not_import_faker(tmp_path: Path) -> None:
    rows, faker_imported = generate_in_a_fresh_process(tmp_path)
    assert int(rows) > 2300
    assert faker_imported == "False"


def test_the_data_does_not_follow_the_processs_hash_seed(tmp_path: Path) -> None:
    """Faker's it_IT cities come from a set; the shipped pools fix their order."""
    for seed in ("1", "2"):
        generate_in_a_fresh_process(tmp_path / seed, hash_seed=seed)
    files = sorted(path.name for path in (tmp_path / "1").iterdir())
    assert files == sorted(path.name for path in (tmp_path / "2").iterdir())
    for name in files:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_has_plausible_pools(locale: str) -> None:
    pool = pools(locale)
    assert pool.country.decode() == COUNTRIES[locale]
    for name in ("first_names", "last_names", "streets", "cities", "states", "postcodes"):
        values = [value.decode("utf-8") for value in getattr(pool, name)]
        assert len(values) >= 10, name
        assert all(0 < len(value) <= MAX_LENGTHS.get(name, MAX_LENGTH) + 2 for value in values)
    for slug in (*pool.first_name_slugs, *pool.last_name_slugs):
        assert re.fullmatch(rb"[a-z0-9]{1,20}", slug), slug
    assert all(b"." in domain for domain in pool.email_domains)


def test_the_pools_keep_fakers_weights() -> None:
    """Faker's common en_US names were drawn (and so are sampled) far more often."""
    names, counts = np.unique(pools("en_US").first_names, return_counts=True)
    assert len(names) < len(pools("en_US").first_names) / 2
    assert counts.max() >= 10 * statistics.median(counts)


def test_the_pools_version_is_the_format_and_the_files_digest(manifest: dict) -> None:
    """... and, where the locale's states have their people (data/populations.toml: en_US),
    theirs too: editing them changes the dataset."""
    import tomllib

    people = tomllib.loads(
        files("customer_pipeline").joinpath("data/populations.toml").read_text(encoding="utf-8")
    )
    assert set(people) == {"en_US"}
    for locale in LOCALES:
        digest = manifest["files"][f"{locale}.json"]["sha256"]
        if locale in people:
            data = SHIPPED.joinpath(f"{locale}.json").read_bytes()
            data += json.dumps(people[locale], sort_keys=True).encode()
            digest = hashlib.sha256(data).hexdigest()
        assert pools_version(locale) == f"{POOLS_FORMAT}-{digest[:16]}"
    assert len({pools_version(locale) for locale in LOCALES}) == len(LOCALES)


def test_rebuilding_one_locale_keeps_the_others_in_the_manifest(tmp_path: Path) -> None:
    shutil.copy(SHIPPED.joinpath("manifest.json"), tmp_path / "manifest.json")
    main(["rebuild", "--locale", "it_IT", "--out", str(tmp_path)])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["it_IT.json", "manifest.json"]
    rebuilt = json.loads((tmp_path / "manifest.json").read_bytes())["files"]
    assert rebuilt["it_IT.json"]["faker"] == version("faker")
    assert sorted(rebuilt) == sorted(f"{locale}.json" for locale in LOCALES)


def test_a_partial_rebuild_in_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": POOLS_FORMAT - 1, "files": {}}))
    with pytest.raises(ValueError, match="rebuild every locale"):
        rebuild_pools(["en_US"], tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["manifest.json"]


def test_an_unknown_locale_is_refused_by_the_rebuild_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rebuild", "--locale", "xx_XX", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "invalid choice: 'xx_XX'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_locale_without_pools_is_refused() -> None:
    with pytest.raises(ValueError, match="no value pools for locale 'xx_XX'"):
        pools("xx_XX")
