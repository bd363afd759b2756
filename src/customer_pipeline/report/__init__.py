"""Step 5, report: the daily report e-mail, as a BI tool's dashboard subscription sends it.

:func:`build_report` turns the day's KPI document, its data-quality results, the
:class:`~customer_pipeline.insights.Insights` of the day and the facts of the run into a
:class:`Report`: a subject with the headline figure, an HTML body (inline CSS, tables for
layout, no scripts, no external resources; charts referenced by Content-ID), a plain-text
twin with the same numbers (also attached as ``Daily_Report.txt``, the original's name),
the charts as PNGs and the KPIs as CSV. Every generated value is HTML-escaped by the
template engine. :func:`daily_report` reads the insights from the database first.

One module per concept:

- ``formatting``: how a value is written (money, counts, shares, durations, changes);
- ``view``: what the report shows, as small values that the templates read;
- ``text``: the plain-text rendering's tables;
- ``csv_export``: Daily_Metrics.csv;
- ``charts``: the PNG charts (matplotlib, imported only when a chart is drawn);
- ``document``: the rendered :class:`Report`, its images and files;
- ``build``: the step itself, rendering ``templates/`` with Jinja.
"""

from customer_pipeline.report.build import build_report, daily_report
from customer_pipeline.report.charts import preload as preload_charts
from customer_pipeline.report.document import (
    CSV_NAME,
    TEXT_NAME,
    Attachment,
    InlineImage,
    Report,
)
from customer_pipeline.report.formatting import Change, relative_change
from customer_pipeline.report.text import text_table
from customer_pipeline.report.view import RunFacts

__all__ = [
    "CSV_NAME",
    "TEXT_NAME",
    "Attachment",
    "Change",
    "InlineImage",
    "Report",
    "RunFacts",
    "build_report",
    "daily_report",
    "preload_charts",
    "relative_change",
    "text_table",
]
