"""The `customer-pipeline` command: the pipeline's steps outside the scheduler."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from customer_pipeline.errors import ConfigError, PipelineError, Stopped
from customer_pipeline.settings import OPTION, Settings, parse_date

if TYPE_CHECKING:  # the pipeline imports numpy and psycopg: only when a command needs them
    from customer_pipeline.pipeline import RunSummary

app = typer.Typer(
    help="Synthetic retail data -> PostgreSQL -> KPIs -> emailed daily report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DateOpt = Annotated[
    str | None, typer.Option("--date", help="Business date, YYYY-MM-DD (default: today, UTC).")
]
ResetOpt = Annotated[
    bool,
    typer.Option(
        "--reset",
        help="Drop and recreate every pipeline table first: deletes all history.",
        metavar="",  # a flag: no value to show
    ),
]


def flag(name: str) -> Any:
    """The Annotated type of a CLI flag (no value) for the boolean setting `name`."""
    option = OPTION[name]
    return Annotated[bool, typer.Option(option.flag, help=option_help(name), metavar="")]


YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation before --reset.", metavar=""),
]


def option_help(name: str) -> str:
    """A setting's help, from its one declaration: what it means, its environment
    variable and default (the choices are its metavar)."""
    option = OPTION[name]
    default = Settings().value(name)
    if isinstance(default, tuple):
        default = ", ".join(default)
    return f"{option.help} (env {option.env}; default {default})"


def setting(kind: Any, name: str) -> Any:
    """The Annotated type of a CLI option for the setting `name` (choices shown and
    completed by the shell; checked by Settings, so that a bad one is one line too)."""
    option = OPTION[name]
    choices = option.choices or ()
    return Annotated[
        kind | None,
        typer.Option(
            option.flag,
            help=option_help(name),
            metavar="|".join(choices) or None,
            autocompletion=(lambda: list(choices)) if choices else None,
        ),
    ]


def show_version(value: bool) -> None:
    if value:
        from customer_pipeline import __version__

        out.print(f"customer-pipeline {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=show_version,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    """Synthetic retail data -> PostgreSQL -> KPIs -> emailed daily report."""


def one_line_errors(command: F) -> F:
    """Turn expected failures into one line on stderr and a non-zero exit status."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), 2)
        except Stopped as exc:  # the run cleaned up: exit 143 after SIGTERM, 130 after Ctrl-C
            fail(str(exc), exc.code)
        except (PipelineError, psycopg.Error) as exc:
            fail(" ".join(str(exc).split()) or type(exc).__name__, 1)
        except OSError as exc:  # a folder or file of the run: name it and the cause
            where = f" {exc.filename}" if exc.filename else ""
            fail(f"cannot use{where}: {exc.strerror or exc}", 1)

    return wrapper  # type: ignore[return-value]


def fail(message: str, status: int) -> NoReturn:
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(status) from None


def business_date(value: str | None) -> dt.date:
    """--date, else today (UTC). An empty --date is a mistake, not today."""
    return dt.datetime.now(dt.UTC).date() if value is None else parse_date(value)


def settings_from(**overrides: Any) -> Settings:
    return Settings.from_env(os.environ).replace(**overrides).validate()


def confirm_reset(settings: Settings, yes: bool) -> None:
    """--reset deletes all history: ask on a terminal; elsewhere, --yes is required."""
    confirm(
        f"--reset deletes every customer-pipeline table in schema {settings.db_schema!r}, "
        "with all their history",
        yes,
    )


def confirm(what: str, yes: bool) -> None:
    """Go on when --yes was given, or the user says so on a terminal; without a terminal to
    ask, refuse (exit 2) naming --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{what}: confirm with --yes (there is no terminal to ask)")
    if not typer.confirm(f"{what}. Continue?", err=True):
        raise typer.Exit(1)


@app.command()
@one_line_errors
def run(  # noqa: PLR0913 (Typer: each option of the command is one of its parameters)
    date: DateOpt = None,
    customers: setting(int, "customers") = None,
    products: setting(int, "products") = None,
    stores: setting(int, "stores") = None,
    transactions: setting(int, "transactions") = None,
    seed: setting(int, "seed") = None,
    reset: ResetOpt = False,
    yes: YesOpt = False,
    email_backend: setting(str, "email_backend") = None,
    to: setting(list[str], "email_to") = None,
    sender: setting(str, "email_from") = None,
    bcc: flag("email_bcc") = False,
    alert_only: flag("alert_only") = False,
    locale: setting(str, "locale") = None,
    chunk_size: setting(int, "chunk_size") = None,
    outbox: setting(Path, "outbox_dir") = None,
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
        email_bcc=bcc or None,  # unset: the environment's
        alert_only=alert_only or None,
        locale=locale,
        chunk_size=chunk_size,
        outbox_dir=outbox,
    )
    if reset:
        confirm_reset(settings, yes)
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
    for name in ("customers", "products", "stores", "promotions", "transactions"):
        if name in summary.row_counts:
            table.add_row(f"{name} rows", f"{summary.row_counts[name]:,}")
    if m:
        table.add_row("total sales", f"{m['total_sales']:,.2f}")
        table.add_row("average transaction", f"{m['average_transaction_amount']:,.2f}")
        table.add_row("unique customers", f"{m['unique_customers']:,}")
        if m["top_product"]:
            top = m["top_product"]
            table.add_row("top product", f"#{top['product_id']} {top['product_name']}")
        if "baselines" in m:
            from customer_pipeline.baselines import flagged

            table.add_row("unusual", ", ".join(flagged(m["baselines"])) or "none")
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
def create_tables_command(reset: ResetOpt = False, yes: YesOpt = False) -> None:
    """Create the pipeline's tables when missing (with --reset: drop and recreate them)."""
    from customer_pipeline.database import check_connection
    from customer_pipeline.dataset import check_dataset
    from customer_pipeline.schema import create_tables

    settings = settings_from(reset=reset or None)
    if reset:
        confirm_reset(settings, yes)
    check_connection(settings)
    check_dataset(settings)
    tables = create_tables(settings, reset=reset)
    out.print(f"{'Reset' if reset else 'Ready'}: {', '.join(tables)}")


@app.command()
@one_line_errors
def db(
    url: Annotated[
        bool,
        typer.Option(
            "--url",
            help="Print the URL (for a BI tool) and keep the server running until Ctrl-C.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Open psql on the pipeline's database (the embedded one is started, and kept
    running while psql runs)."""
    import subprocess
    import time

    from customer_pipeline.database import database_url, describe, psql_command

    settings = settings_from()
    where = describe(database_url(settings))  # starts the embedded server if it is the one
    if not url:
        raise typer.Exit(subprocess.call(psql_command(settings)))  # noqa: S603 (our psql)
    out.print(f"{where} (schema {settings.db_schema}); Ctrl-C stops", highlight=False)
    with contextlib.suppress(KeyboardInterrupt):
        while True:  # the embedded server stops when the last process using it exits
            time.sleep(3600)


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


@app.command("rebuild-pools")
@one_line_errors
def rebuild_pools_command(
    locale: Annotated[
        list[str] | None,
        typer.Option(help="A locale to rebuild; repeat for several (default: all)."),
    ] = None,
    into: Annotated[
        Path | None, typer.Option("--out", help="Write there instead of the package's data.")
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Draw the shipped value pools again with the installed Faker (changes datasets).

    On purpose only: a schema that holds a dataset of a rebuilt locale refuses its runs
    afterwards (another DATABASE_SCHEMA, or --reset).
    """
    from importlib.resources import files

    from customer_pipeline.generate.pools import rebuild_pools
    from customer_pipeline.settings import LOCALES

    chosen = locale or list(LOCALES)
    unknown = sorted(set(chosen) - set(LOCALES))
    if unknown:
        raise ConfigError(f"unknown locale {unknown[0]!r}: choose one of {', '.join(LOCALES)}")
    target = into or Path(str(files("customer_pipeline").joinpath("data/pools")))
    if into is None:
        confirm(f"redrawing the shipped pools of {', '.join(chosen)} changes their datasets", yes)
    try:
        written = rebuild_pools(chosen, target)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for path in written:
        out.print(f"Wrote {path}", highlight=False, soft_wrap=True)
