"""Step 5, report: Daily_Report.txt (the original's attachment, readable) and an HTML twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from customer_pipeline import __version__
from customer_pipeline.settings import Settings

TEXT_NAME = "Daily_Report.txt"
HTML_NAME = "Daily_Report.html"


@dataclass(frozen=True)
class Report:
    subject: str
    text: str
    html: str

    def write(self, folder: Path) -> dict[str, str]:
        """Write both renderings into `folder`; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / TEXT_NAME).write_text(self.text, encoding="utf-8")
        (folder / HTML_NAME).write_text(self.html, encoding="utf-8")
        return {"text": str(folder / TEXT_NAME), "html": str(folder / HTML_NAME)}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("customer_pipeline", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["money"] = lambda value: f"{value:,.2f}"
    env.filters["count_fmt"] = lambda value: f"{value:,}"
    return env


def build_report(
    settings: Settings, metrics: Mapping[str, Any], checks: Sequence[Mapping[str, Any]] = ()
) -> Report:
    """Render the day's report from its KPI document and data-quality results."""
    env = _environment()
    context = {
        "metrics": metrics,
        "checks": list(checks),
        "version": __version__,
        "seed": settings.seed,
    }
    return Report(
        subject=f"Daily Metrics Report {metrics['business_date']}",
        text=env.get_template("daily_report.txt.j2").render(context),
        html=env.get_template("daily_report.html.j2").render(context),
    )
