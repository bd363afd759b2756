"""How the report writes a value: money, counts, shares, durations and changes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: The currency symbol of each data locale (prices are generated in local units).
CURRENCIES = {"en_US": "$", "en_GB": "£"}
DEFAULT_CURRENCY = "€"


def currency_of(locale: str) -> str:
    return CURRENCIES.get(locale, DEFAULT_CURRENCY)


def format_money(value: Any, currency: str = "") -> str:
    """1234.5 -> '$1,234.50' (a missing value reads as 0)."""
    number = float(value or 0)
    sign = "-" if number < 0 else ""
    return f"{sign}{currency}{abs(number):,.2f}"


def format_compact_money(value: Any, currency: str = "") -> str:
    """6450123.4 -> '$6.45M', 54664.86 -> '$54.7K' (3 significant digits); below 10,000
    as format_money writes it."""
    number = float(value or 0)
    size = abs(number)
    if size < 10_000:
        return format_money(number, currency)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if size >= scale * 0.9995 or unit == "K":
            shown = size / scale
            digits = 2 if shown < 10 else (1 if shown < 100 else 0)
            sign = "-" if number < 0 else ""
            return f"{sign}{currency}{shown:,.{digits}f}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_count(value: Any) -> str:
    """12345 -> '12,345', an average 9.33 -> '9.33' (a missing value reads as 0)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value or 0):,}"


def format_share(part: float, whole: float) -> str:
    """The part's share of the whole: '19.0%' ('0.0%' of nothing)."""
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def format_duration(seconds: float) -> str:
    """'12.5 s', '2 min 05 s', '1 h 02 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class Change:
    """A relative change, as a report shows it: '+4.2%', an arrow, a colour."""

    percent: float
    polarity: int = 1  # 1 when more is better, 0 when a change is neither good nor bad

    @property
    def direction(self) -> int:
        rounded = round(self.percent, 1)
        return 0 if rounded == 0 else (1 if rounded > 0 else -1)

    @property
    def text(self) -> str:
        return "0.0%" if self.direction == 0 else f"{self.percent:+.1f}%"

    @property
    def arrow(self) -> str:
        return {1: "\u25b2", -1: "\u25bc", 0: "\u25cf"}[self.direction]

    @property
    def tone(self) -> str:
        """good, bad or neutral: the colour of the badge."""
        if self.direction == 0 or self.polarity == 0:
            return "neutral"
        return "good" if self.direction == self.polarity else "bad"


def relative_change(current: Any, previous: Any, polarity: int = 1) -> Change | None:
    """The change from `previous` to `current`; None without a (non-zero) previous value."""
    if previous is None or current is None:
        return None
    before, now = float(previous), float(current)
    if before == 0 or math.isnan(before) or math.isnan(now):
        return None
    return Change(100 * (now - before) / abs(before), polarity)
