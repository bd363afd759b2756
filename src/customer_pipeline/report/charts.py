"""The report's charts: small, deterministic PNGs drawn headless with matplotlib.

:func:`chart_images` draws the charts a report shows: the sales by hour on a day with
sales, and the last 7 days when any of them before the business date has KPIs.

Figures are made with :class:`matplotlib.figure.Figure` and rendered by the Agg canvas
explicitly: no pyplot, no global backend switch, no display needed, nothing imported
until a chart is drawn. The PNGs carry no software or date metadata, so the same data
gives the same bytes (with the same matplotlib and fonts).
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from customer_pipeline.report.document import InlineImage

if TYPE_CHECKING:
    from customer_pipeline.report.view import ReportView

#: The report's palette (see report/templates/daily_report.html.j2).
ACCENT = "#2563eb"
ACCENT_LIGHT = "#bfd3fb"
MUTED = "#64748b"
GRID = "#e2e8f0"
TEXT = "#0f172a"

#: 1100 x 525 pixels: sharp at the report's 552 CSS pixels on a retina screen, and at
#: about 350 on a phone (where 10 pt labels still read as 11 pixels); 20-40 KB each.
WIDTH_IN, HEIGHT_IN, DPI = 4.4, 2.1, 250
FONT_SIZE = 10


def compact_money(value: float, currency: str = "") -> str:
    """1234567 -> '1.2M', 12345 -> '12k', 950 -> '950', with the currency symbol first."""
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            scaled = value / size
            text = f"{scaled:.1f}" if abs(scaled) < 10 else f"{scaled:.0f}"
            return f"{currency}{text.removesuffix('.0')}{suffix}"
    return f"{currency}{value:,.0f}"


def preload() -> threading.Thread:
    """Import what drawing needs (matplotlib's Figure and Agg canvas, slow to import) in a
    background thread, e.g. while PostgreSQL checks and aggregates the day and this
    process waits. The first chart then finds them imported (or waits for the import)."""

    def load() -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401

    thread = threading.Thread(target=load, name="chart-imports", daemon=True)
    thread.start()
    return thread


def _blank_chart() -> tuple[Any, Any]:
    """A figure and its axes in the report's chart style, nothing drawn yet."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor("white")
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color(GRID)
    axes.tick_params(axis="both", colors=MUTED, labelsize=FONT_SIZE, length=0, pad=4)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _png(figure: Any, bottom: float = 0.14) -> bytes:
    """The figure as an optimised PNG of at most 64 colours (a third of the RGBA size)."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    figure.subplots_adjust(left=0.12, right=0.985, top=0.9, bottom=bottom)
    canvas = figure.canvas
    canvas.draw()  # the Agg pixels, taken as they are (no PNG to encode and decode again)
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    quantized = image.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    quantized.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _money_axis(axes: Any, currency: str, top: float) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_money(v, currency)))
    axes.set_ylim(0, top * 1.18 if top > 0 else 1)


def hourly_sales_png(hours: Sequence[tuple[int, float]], currency: str = "") -> bytes:
    """Bars of sales per hour of the day (the stores' local time); the peak hour stands out
    and is labelled."""
    figure, axes = _blank_chart()
    sales = [0.0] * 24
    for hour, value in hours:
        sales[hour] = float(value)
    peak = max(range(24), key=lambda h: (sales[h], -h))
    colors = [ACCENT if h == peak and sales[h] > 0 else ACCENT_LIGHT for h in range(24)]
    axes.bar(range(24), sales, width=0.78, color=colors, linewidth=0)
    axes.set_xlim(-0.7, 23.7)
    axes.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
    _money_axis(axes, currency, max(sales))
    if sales[peak] > 0:
        axes.annotate(
            compact_money(sales[peak], currency),
            (peak, sales[peak]),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=FONT_SIZE,
            fontweight="bold",
            color=TEXT,
        )
    return _png(figure)


def trend_png(days: Sequence[tuple[dt.date, float | None]], currency: str = "") -> bytes:
    """Bars of total sales for a run of dates, the last one (the business date) in colour.

    A date without stored KPIs has no bar and the label 'n/a'.
    """
    figure, axes = _blank_chart()
    values = [value or 0.0 for _, value in days]
    last = len(days) - 1
    colors = [ACCENT if i == last else ACCENT_LIGHT for i in range(len(days))]
    axes.bar(range(len(days)), values, width=0.62, color=colors, linewidth=0)
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_xticks(range(len(days)), [f"{day:%a}\n{day.day}" for day, _ in days], linespacing=1.3)
    _money_axis(axes, currency, max(values, default=0.0))
    for i, (_, value) in enumerate(days):
        axes.annotate(
            "n/a" if value is None else compact_money(value, currency),
            (i, value or 0.0),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=FONT_SIZE - 0.5,
            fontweight="bold" if i == last else "normal",
            color=TEXT if i == last else MUTED,
        )
    return _png(figure, bottom=0.22)


def chart_images(view: ReportView) -> tuple[InlineImage, ...]:
    """The report's charts, each with its Content-ID (unique per date) and alt text."""
    images = []
    stamp = view.day.strftime("%Y%m%d")
    if view.has_sales:
        peak = view.peak
        hours = [(int(hour.name), hour.amount) for hour in view.hours]
        images.append(
            InlineImage(
                cid=f"hourly-sales.{stamp}@customer-pipeline",
                filename="hourly-sales.png",
                data=hourly_sales_png(hours, view.currency),
                alt=f"Sales by hour (local time): peak {peak.hour}-{peak.until}, {peak.sales}"
                if peak
                else "Sales by hour (local time)",
            )
        )
    if view.trend:
        days = [(day.date, day.total_sales) for day in view.trend]
        images.append(
            InlineImage(
                cid=f"sales-trend.{stamp}@customer-pipeline",
                filename="sales-trend.png",
                data=trend_png(days, view.currency),
                alt=f"Total sales of the last 7 days, {view.day} last: {view.trend[-1].sales}",
            )
        )
    return tuple(images)
