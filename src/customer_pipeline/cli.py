"""The `customer-pipeline` command: the pipeline's steps outside the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from customer_pipeline.errors import ConfigError, PipelineError, Stopped
from customer_pipeline.settings import EMAIL_BACKENDS, Settings, parse_date

if TYPE_CHECKING:  # the pipeline imports Faker and numpy: only when a command needs them
    from customer_pipeline.pipeline import RunSummary

app = typer.Typer(
    help="Synthetic retail data -> PostgreSQL -> KPIs -> emailed daily report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DateOpt = Annotated[
    str | None, typer.Option("--date", help="Business date, YYYY-MM-DD (default: today, UTC).")
]
SeedOpt = Annotated[int | None, typer.Option(help="Random seed (env: PIPELINE_SEED; default 42).")]
ResetOpt = Annotated[
    bool, typer.Option("--reset", help="Drop and recreate every pipeline table first.")
]


def one_line_errors(command: F) -> F:
    """Turn expected failures into one line on stderr and a non-zero exit status."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Stopped as exc:  # the run cleaned up: exit 143 after SIGTERM, 130 after Ctrl-C
            err.print(f"[bold red]Error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.code) from None
        except (PipelineError, psycopg.Error) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            err.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def business_date(value: str | None) -> dt.date:
    return parse_date(value) if value else dt.datetime.now(dt.UTC).date()


def settings_from(**overrides: Any) -> Settings:
    return Settings.from_env(os.environ).replace(**overrides).validate()


@app.command()
@one_line_errors
def run(
    date: DateOpt = None,
    customers: Annotated[int | None, typer.Option(help="Customers (default 100).")] = None,
    products: Annotated[int | None, typer.Option(help="Products (default 50).")] = None,
    stores: Annotated[int | None, typer.Option(help="Stores (default 20).")] = None,
    transactions: Annotated[
        int | None, typer.Option(help="Transactions of the day (default 1000).")
    ] = None,
    seed: SeedOpt = None,
    reset: ResetOpt = False,
    email_backend: Annotated[
        str | None,
        typer.Option(
            help=f"One of {', '.join(EMAIL_BACKENDS)} (env: EMAIL_BACKEND; default outbox)."
        ),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Recipient; repeat for several (env: EMAIL_TO)."),
    ] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Sender (env: EMAIL_FROM).")] = None,
    locale: Annotated[str | None, typer.Option(help="Faker locale (default en_US).")] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Transactions per generated file (multiple of 10,000).")
    ] = None,
    outbox: Annotated[Path | None, typer.Option(help="Outbox folder (default ./outbox).")] = None,
) -> None:
    """Run the whole pipeline for one business date and print a summary."""
    from customer_pipeline.pipeline import run_day, stop_on_signals

    day = business_date(date)
    settings = settings_from(
        customers=customers,
        products=products,
        stores=stores,
        transactions=transactions,
        seed=seed,
        reset=reset or None,
        email_backend=email_backend,
        email_to=to,
        email_from=sender,
        locale=locale,
        chunk_size=chunk_size,
        outbox_dir=outbox,
    )
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(step: str, completed: int, total: int) -> None:
            bar.update(task, description=step, completed=completed, total=total)

        with stop_on_signals():
            summary = run_day(settings, day, progress=progress)
    print_summary(summary)


def print_summary(
    summary: RunSummary, status: str = "success", seconds: float | None = None
) -> None:
    """Rows per table, the headline KPIs, where the report went."""
    m = summary.metrics
    table = Table(title=f"customer-pipeline {summary.business_date}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name in ("customers", "products", "stores", "transactions"):
        if name in summary.row_counts:
            table.add_row(f"{name} rows", f"{summary.row_counts[name]:,}")
    if m:
        table.add_row("total sales", f"{m['total_sales']:,.2f}")
        table.add_row("average transaction", f"{m['average_transaction_amount']:,.2f}")
        table.add_row("unique customers", f"{m['unique_customers']:,}")
        if m["top_product"]:
            top = m["top_product"]
            table.add_row("top product", f"#{top['product_id']} {top['product_name']}")
    if seconds is None:
        seconds = sum(summary.timings.values())
    table.add_row("seconds", f"{seconds:.2f}")
    table.add_row("status", status)
    out.print(table)
    out.print(f"Report: {summary.delivered_to or '(not sent)'}", soft_wrap=True, highlight=False)
    out.print(
        f"Database: {summary.database} (run {summary.run_id})", soft_wrap=True, highlight=False
    )


@app.command()
@one_line_errors
def summary(date: DateOpt = None) -> None:
    """Print the summary of the latest run of a business date (from the runs table)."""
    from customer_pipeline.database import database_url, describe
    from customer_pipeline.metrics import stored_metrics
    from customer_pipeline.pipeline import RunSummary
    from customer_pipeline.runs import latest_run

    day = business_date(date)
    settings = settings_from()
    run = latest_run(settings, day)
    if run is None:
        raise PipelineError(f"no run recorded for {day}: run the pipeline for that date first")
    found = RunSummary(
        run_id=str(run["run_id"]),
        business_date=day,
        database=describe(database_url(settings)),
        row_counts=run["row_counts"],
        metrics=stored_metrics(settings, day) or {},
        delivered_to=run["delivered_to"] or "",
        timings=run["timings"],
    )
    took = run["finished_at"] - run["started_at"] if run["finished_at"] else None
    print_summary(found, status=run["status"], seconds=took.total_seconds() if took else None)
    if run["error"]:
        err.print(f"[bold red]Error:[/] {run['error']}", highlight=False, soft_wrap=True)


@app.command("create-tables")
@one_line_errors
def create_tables_command(reset: ResetOpt = False) -> None:
    """Create the pipeline's tables when missing (with --reset: drop and recreate them)."""
    from customer_pipeline.database import check_connection
    from customer_pipeline.schema import create_tables

    settings = settings_from()
    check_connection(settings)
    tables = create_tables(settings, reset=reset)
    out.print(f"{'Reset' if reset else 'Ready'}: {', '.join(tables)}")


@app.command()
@one_line_errors
def metrics(
    date: DateOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the KPI document as JSON.")
    ] = False,
    recalculate: Annotated[
        bool, typer.Option(help="Compute from the loaded rows and store them again.")
    ] = False,
) -> None:
    """Print the stored KPIs of a business date (as JSON, or as the daily report's text)."""
    from customer_pipeline.insights import collect_insights
    from customer_pipeline.metrics import calculate_metrics, stored_metrics
    from customer_pipeline.report import build_report

    day = business_date(date)
    settings = settings_from()
    document = calculate_metrics(settings, day) if recalculate else stored_metrics(settings, day)
    if document is None:
        raise PipelineError(f"no metrics stored for {day}: run the pipeline for that date first")
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        insights = collect_insights(settings, day)
        sys.stdout.write(build_report(settings, document, insights=insights).text)
