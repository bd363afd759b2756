"""Bad input, from a flag, the environment or the database: one line, exit 2, nothing
written (no schema, no table, no folder)."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from customer_pipeline.cli import app
from customer_pipeline.settings import Settings


def schema_exists(settings: Settings) -> bool:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regnamespace(%s)", [settings.db_schema]).fetchone()[0]
    return found is not None


def nothing_written(settings: Settings) -> bool:
    return not schema_exists(settings) and not settings.work_dir.exists()


def refused(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("Error:")
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("3000-01-01", "after the last supported date 2099-12-31"),
        ("9999-12-31", "after the last supported date 2099-12-31"),
        ("", "invalid date ''"),
        ("2019-12-31", "before the history start 2020-01-01"),
    ],
)
def test_dates_outside_the_history_are_refused(
    cli: CliRunner, settings: Settings, date: str, message: str
) -> None:
    refused(cli, ["run", "--date", date], message)
    assert nothing_written(settings)


def test_a_day_that_grows_past_the_size_limit_is_refused(
    cli: CliRunner, settings: Settings
) -> None:
    args = ["run", "--date", "2099-12-01", "--transactions", "900000000"]
    refused(cli, args, "--transactions 900,000,000 grows to")
    assert nothing_written(settings)


@pytest.mark.parametrize("system", ["information_schema", "pg_catalog", "pg_toast", "pg_temp_3"])
def test_system_schemas_are_refused(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, system: str
) -> None:
    monkeypatch.setenv("DATABASE_SCHEMA", system)
    refused(cli, ["run", "--transactions", "10"], f"DATABASE_SCHEMA '{system}' is a PostgreSQL")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PIPELINE_TRANSACTIONS", "-1", "PIPELINE_TRANSACTIONS must be a non-negative integer"),
        ("PIPELINE_CHUNK_SIZE", "12345", "PIPELINE_CHUNK_SIZE must be a positive multiple"),
        ("PIPELINE_LOCALE", "xx_XX", "unknown locale 'xx_XX' (PIPELINE_LOCALE)"),
        ("PIPELINE_SEED", "many", "PIPELINE_SEED must be an integer, got 'many'"),
    ],
)
def test_errors_name_the_variable_that_was_set(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    refused(cli, ["run"], message)


def test_a_flag_overrides_the_variable_and_is_named(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_TRANSACTIONS", "100")
    refused(cli, ["run", "--transactions", "-2"], "--transactions must be")


@pytest.mark.parametrize("folder", ["PIPELINE_WORK_DIR", "PIPELINE_OUTBOX_DIR"])
def test_a_folder_that_cannot_be_written_is_refused_before_the_first_write(
    cli: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path, folder: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(folder, str(tmp_path / "a-file" / "inside"))
    refused(cli, ["run", "--transactions", "10"], f"({folder}): Not a directory")
    assert not schema_exists(settings)
