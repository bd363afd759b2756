"""The CLI through Typer's runner: commands, JSON output, one-line errors."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from conftest import expected_rows, free_port
from customer_pipeline.cli import app
from customer_pipeline.settings import Settings

DAY = dt.date(2026, 11, 20)


def test_every_command_and_option_has_help() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    assert {"run", "metrics", "summary", "create-tables"} <= set(commands)
    for name, command in commands.items():
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{name} {param.opts} has no help text"
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_run_then_metrics_json(cli: CliRunner, settings: Settings) -> None:
    result = cli.invoke(
        app,
        [
            "run",
            "--date",
            "2026-11-20",
            "--transactions",
            "500",
            "--customers",
            "40",
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.stderr
    expected = expected_rows(settings.replace(transactions=500, customers=40, seed=3), DAY)
    assert "transactions rows" in result.stdout
    assert f"{expected['transactions']:,}" in result.stdout
    assert "2026-11-20-daily-report.eml" in result.stdout

    result = cli.invoke(app, ["metrics", "--date", "2026-11-20", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["business_date"] == "2026-11-20"
    assert document["transaction_count"] == expected["transactions"]
    assert set(document["top_product"]) == {"product_id", "product_name", "sales"}
    assert set(document["top_customer"]) == {"customer_id", "first_name", "last_name", "sales"}
    assert set(document["top_store"]) == {"store_id", "store_name", "sales"}
    assert sum(m["count"] for m in document["payment_methods"].values()) == expected["transactions"]

    summary = cli.invoke(app, ["summary", "--date", "2026-11-20"])
    assert summary.exit_code == 0, summary.stderr
    assert "success" in summary.stdout
    assert f"{expected['transactions']:,}" in summary.stdout
    assert "Report: " in summary.stdout
    assert "2026-11-20-daily-report.eml" in summary.stdout

    assert "unusual" in summary.stdout and "none" in summary.stdout  # no history: no flag
    text = cli.invoke(app, ["metrics", "--date", "2026-11-20"])
    assert text.exit_code == 0 and "Total sales" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--date", "2026-02-30"], "invalid date '2026-02-30'"),
        (["run", "--date", "next tuesday"], "expected YYYY-MM-DD"),
        (["run", "--customers", "-5"], "--customers must be a non-negative integer"),
        (["run", "--stores", "0"], "stores is 0"),
        (["run", "--to", "not-an-address"], "invalid email address 'not-an-address'"),
        (["run", "--email-backend", "carrier-pigeon"], "unknown email backend"),
        (
            ["run", "--email-backend", "sendgrid", "--to", "m@shop.test", "--from", "r@shop.test"],
            "SENDGRID_API_KEY",
        ),
        (["metrics", "--date", "2026-1-1"], "expected YYYY-MM-DD"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("Error:")


def test_unreachable_database(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://me@127.0.0.1:{free_port()}/shop")
    result = cli.invoke(app, ["run"])
    assert result.exit_code == 1
    assert "cannot connect to postgresql://me@127.0.0.1" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_metrics_of_a_day_never_run(cli: CliRunner) -> None:
    assert cli.invoke(app, ["create-tables"]).exit_code == 0
    result = cli.invoke(app, ["metrics", "--date", "2026-11-01", "--json"])
    assert result.exit_code == 1
    assert "no metrics stored for 2026-11-01" in result.stderr


def test_summary_of_a_day_never_run(cli: CliRunner) -> None:
    assert cli.invoke(app, ["create-tables"]).exit_code == 0
    result = cli.invoke(app, ["summary", "--date", "2026-11-01"])
    assert result.exit_code == 1
    assert "no run recorded for 2026-11-01" in result.stderr


def test_create_tables_reset(cli: CliRunner) -> None:
    result = cli.invoke(app, ["create-tables", "--reset", "--yes"])
    assert result.exit_code == 0, result.stderr
    assert "Reset: returns, returns_scheduled, transactions" in result.stdout


@pytest.mark.parametrize("command", ["create-tables", "run"])
def test_a_reset_without_a_terminal_needs_yes(
    cli: CliRunner, db: psycopg.Connection, command: str
) -> None:
    assert cli.invoke(app, ["run", "--date", "2026-11-20", "--transactions", "50"]).exit_code == 0
    result = cli.invoke(app, [command, "--reset"])
    assert result.exit_code == 2
    assert "confirm with --yes" in result.stderr
    assert db.execute("SELECT count(*) FROM transactions").fetchone()[0] > 0


def test_metrics_json_keeps_the_documented_key_order(cli: CliRunner) -> None:
    assert cli.invoke(app, ["run", "--date", "2026-11-20", "--transactions", "50"]).exit_code == 0
    document = json.loads(cli.invoke(app, ["metrics", "--date", "2026-11-20", "--json"]).stdout)
    assert list(document) == [
        "business_date",
        "transaction_count",
        "total_sales",
        "total_quantity_sold",
        "average_transaction_amount",
        "min_transaction_amount",
        "max_transaction_amount",
        "unique_customers",
        "top_product",
        "top_customer",
        "top_store",
        "payment_methods",
        "basket_count",
        "average_basket_value",
        "items_per_basket",
        "new_customers",
        "returning_customers",
        "discount_total",
        "promotion_sales",
        "promotion_transactions",
        "promotions",
        "returns_count",
        "refund_total",
        "net_sales",
        "return_rate_by_category",
        "customers_moved",
        "customers_closed",
        "baselines",
        "customers",
    ]
    assert set(document["baselines"]["total_sales"]) == {
        "expected",
        "low",
        "high",
        "flag",
        "weeks",
        "day_over_day",
        "week_over_week",
        "year_over_year",
        "month_to_date",
    }
    assert list(document["top_customer"]) == ["customer_id", "first_name", "last_name", "sales"]


def test_rebuild_pools_refuses_an_unknown_locale(cli: CliRunner) -> None:
    result = cli.invoke(app, ["rebuild-pools", "--locale", "xx_XX"])
    assert result.exit_code == 2
    assert "unknown locale 'xx_XX'" in result.stderr


def test_rebuild_pools_of_the_shipped_data_needs_confirmation(cli: CliRunner) -> None:
    result = cli.invoke(app, ["rebuild-pools", "--locale", "nl_NL"])
    assert result.exit_code == 2
    assert "confirm with --yes" in result.stderr


def test_rebuild_pools_into_a_folder(cli: CliRunner, tmp_path) -> None:
    result = cli.invoke(app, ["rebuild-pools", "--locale", "nl_NL", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "nl_NL.json").stat().st_size > 10_000
    assert (tmp_path / "manifest.json").exists()


def test_version_choices_and_flags_read_like_a_cli() -> None:
    from customer_pipeline import __version__

    assert (
        CliRunner().invoke(app, ["--version"]).stdout.strip() == f"customer-pipeline {__version__}"
    )
    help_text = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).stdout
    assert "outbox|smtp|sendgrid" in help_text and "en_US|de_DE" in help_text
    assert "--reset <bool>" not in " ".join(help_text.split())
    assert "PIPELINE_TRANSACTIONS" in help_text


def test_the_printed_database_url_works_as_it_is(database_url: str) -> None:
    from customer_pipeline.database import describe

    with psycopg.connect(describe(database_url)) as conn:  # no password: trust, as here
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_db_opens_psql_on_the_pipelines_schema(settings: Settings) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    command = Path(sys.executable).parent / "customer-pipeline"
    env = os.environ | {"DATABASE_URL": settings.database_url, "DATABASE_SCHEMA": "some_schema"}
    shown = subprocess.run(
        [command, "db"], input="SHOW search_path;", env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "some_schema" in shown.stdout
