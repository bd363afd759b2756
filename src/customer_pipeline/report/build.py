"""The step: the day's view rendered by the templates, with its charts and CSV."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from customer_pipeline.insights import Insights, collect_insights
from customer_pipeline.report.charts import chart_images
from customer_pipeline.report.csv_export import kpi_csv
from customer_pipeline.report.document import CSV_NAME, TEXT_NAME, Attachment, Report
from customer_pipeline.report.text import TextTables
from customer_pipeline.report.view import ReportView, RunFacts
from customer_pipeline.settings import Settings

if TYPE_CHECKING:
    from customer_pipeline.quality import CheckResult

#: The width of the report's content column on a desktop, in CSS pixels (charts fill it).
CONTENT_WIDTH = 568


def _environment(cache_dir: Path | None = None) -> Environment:
    """The templates' environment; compiled templates kept in cache_dir/jinja (compiling
    them takes longer than rendering; Jinja recompiles a template whose source changed)."""
    bytecode_cache = None
    if cache_dir is not None:
        folder = cache_dir / "jinja"
        with contextlib.suppress(OSError):  # no cache folder: compile each time
            folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):  # Jinja fails on a read-only folder
            bytecode_cache = FileSystemBytecodeCache(str(folder))
    env = Environment(
        loader=PackageLoader("customer_pipeline.report", "templates"),
        bytecode_cache=bytecode_cache,
        # the templates are named *.html.j2: select_autoescape(["html"]) alone would
        # match only *.html and leave the HTML report unescaped
        autoescape=select_autoescape(("html", "html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(content_width=CONTENT_WIDTH, attachment_names=(TEXT_NAME, CSV_NAME))
    return env


def build_report(
    settings: Settings,
    metrics: Mapping[str, Any],
    checks: Sequence[CheckResult] = (),
    *,
    insights: Insights,
    run: RunFacts | None = None,
) -> Report:
    """Render the day's report.

    `metrics` is the KPI document (metrics.calculate_metrics), `checks` the data-quality
    results (quality.check_data_quality), `insights` (insights.collect_insights) the
    comparisons, breakdowns, top 5s and charts of the same date. `run` adds the run's
    facts (row counts, seed, duration).
    """
    view = ReportView.of(settings, metrics, checks, insights, run or RunFacts())
    images = chart_images(view)
    env = _environment(settings.cache_dir)
    html = env.get_template("daily_report.html.j2").render(
        report=view, images={image.filename.removesuffix(".png"): image for image in images}
    )
    return Report(
        subject=view.subject,
        text=env.get_template("daily_report.txt.j2").render(report=view, tables=TextTables(view)),
        html=html,
        images=images,
        attachments=(Attachment(CSV_NAME, kpi_csv(view), "csv"),),
        alerts=view.alerts,
    )


def daily_report(
    settings: Settings,
    day: dt.date,
    metrics: Mapping[str, Any],
    checks: Sequence[CheckResult] = (),
    *,
    run: RunFacts | None = None,
) -> Report:
    """Step 5 in one call: the day's insights from the database, then the rendered report."""
    return build_report(
        settings, metrics, checks, insights=collect_insights(settings, day), run=run
    )
