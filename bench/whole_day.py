"""The whole day: `run_day` in a fresh process (what `customer-pipeline run` does), as a
day in sequence, in a schema of its own dropped afterwards; and the scale series, whole
days of growing volume measured the same way.

A day in sequence: the schema holds the previous day, run first in a process of its own
on the empty schema (with the schema's one-time catch-up of every customer and product,
reported apart). Peak memory is the process tree's (the run's process and any process it
starts); the PostgreSQL server's is not included.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import ChildResult, log, run_child
from server import Database, checkpoint, drop_schema, schema_bytes

#: the next size of the series needs at most this many times the last size's disk per
#: transaction (its work folder's peak, its schema's size) before it is started
DISK_MARGIN = 1.25


def _peaks(child: ChildResult) -> dict[str, Any]:
    return {
        "peak_rss_mb": child.peak_rss_mb,
        "tree_peak_rss_mb": child.tree_peak_rss_mb,
        "work_peak_bytes": child.folder_peak_bytes,
    }


def measure_day(
    db: Database,
    sizes: dict[str, int],
    day: dt.date,
    schema: str,
    scratch: Path | None = None,
    *,
    gap: int = 0,
) -> dict[str, Any]:
    """The whole day in sequence in `schema` (see the module's docstring).

    scratch: the folder that holds the runs' working folders, whose peak size is measured
    (work_peak_bytes); schema_bytes is the schema's size once the day is loaded (both days).
    gap: then, in the same schema, the day after `gap` days not loaded (its catch-up of the
    rows created or changed in the gap), as "after_gap".
    """
    params: dict[str, Any] = {"sizes": sizes, "database_url": db.url, "schema": schema}
    if scratch is not None:
        params["scratch_in"] = str(scratch)
    try:
        child = run_child(
            "day",
            params | {"day": str(day - dt.timedelta(days=1))},
            watch=True,
            watch_folder=scratch,
        )
        previous = child.result | _peaks(child)
        log(
            f"  previous day on an empty schema: {previous['seconds']:.2f} s, of which the "
            f"one-time catch-up {previous['catch_up_seconds']:.2f} s"
        )
        checkpoint(db.url)
        child = run_child("day", params | {"day": str(day)}, watch=True, watch_folder=scratch)
        stored = schema_bytes(db.url, schema)
        later = None
        if gap:
            checkpoint(db.url)
            later_day = day + dt.timedelta(days=gap + 1)
            later = run_child("day", params | {"day": str(later_day)}).result
            later["gap_days"] = gap
            log(
                f"  {later_day} after {gap} days not loaded: {later['seconds']:.2f} s, of "
                f"which the catch-up {later['catch_up_seconds']:.2f} s"
            )
    finally:
        drop_schema(db.url, schema)
    result = child.result | _peaks(child) | {"schema_bytes": stored, "previous_day": previous}
    if later is not None:
        result["after_gap"] = later
    result["other_seconds"] = round(result["seconds"] - sum(result["timings"].values()), 4)
    log(f"  whole day: {result['seconds']:.2f} s, peak {child.tree_peak_rss_mb:.0f} MB")
    return result


def _room(
    db: Database, work: Path, last: dict[str, Any], transactions: int
) -> list[dict[str, Any]]:
    """Per filesystem the next size writes to: the bytes it should need (the last size's
    per transaction, times DISK_MARGIN) and the bytes free. A server elsewhere
    (BENCH_DATABASE_URL) is not checked."""
    factor = DISK_MARGIN * transactions / last["transactions_setting"]
    needs = [(work, max(last["work_peak_bytes"], last["previous_day"]["work_peak_bytes"]))]
    if db.data_dir is not None:
        needs.append((db.data_dir, last["schema_bytes"]))
    devices: dict[int, dict[str, Any]] = {}
    for folder, need in needs:
        device = devices.setdefault(
            os.stat(folder).st_dev,
            {"folder": str(folder), "need_bytes": 0, "free_bytes": shutil.disk_usage(folder).free},
        )
        device["need_bytes"] += round(need * factor)
    return list(devices.values())


def measure_scale_series(
    db: Database, sizes: dict[str, int], day: dt.date, transactions: Sequence[int], work: Path
) -> dict[str, Any]:
    """Whole days in sequence with `sizes` but these typical days' transactions (the
    date's actual count is a function of it), smallest first, each in its own schema and
    work folder, both removed afterwards. Before each size after the first, the disk it
    should need is checked against the free disk: a size that would not fit is skipped
    (said so in its point) rather than run into a full disk."""
    tag = uuid.uuid4().hex[:8]
    points: list[dict[str, Any]] = []
    for count in sorted(transactions):
        measured = [p for p in points if "skipped" not in p]
        room = _room(db, work, measured[-1], count) if measured else []
        short = [r for r in room if r["need_bytes"] > r["free_bytes"]]
        log(f"scale series: whole day of {count:,} typical transactions, own process")
        if short:
            reason = "; ".join(
                f"{r['folder']}: needs about {r['need_bytes'] / 1e9:.1f} GB, "
                f"{r['free_bytes'] / 1e9:.1f} GB free"
                for r in short
            )
            log(f"  [yellow]skipped: {reason}[/]")
            points.append({"transactions_setting": count, "skipped": reason, "disk": room})
            continue
        scratch = work / f"series-{count}"
        scratch.mkdir(parents=True)
        try:
            result = measure_day(
                db, sizes | {"transactions": count}, day, f"bench_series_{tag}_{count}", scratch
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        lines = result["row_counts"]["transactions"]
        result |= {
            "transactions_setting": count,
            "seconds_per_million": round(result["seconds"] / (lines / 1e6), 4),
            "disk": room,
        }
        log(
            f"  {lines:,} transactions: {result['seconds_per_million']:.2f} s per million; "
            f"work folder's peak {result['work_peak_bytes'] / 1e6:,.0f} MB, schema of both "
            f"days {result['schema_bytes'] / 1e6:,.0f} MB"
        )
        points.append(result)
    rates = [p["seconds_per_million"] for p in points if "skipped" not in p]
    spread = round(max(rates) / min(rates), 3) if len(rates) > 1 else None
    return {"points": points, "seconds_per_million_spread": spread}
