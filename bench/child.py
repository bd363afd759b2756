"""Measurements that need a process of their own (fresh caches, their own peak memory).

    python bench/child.py generate '{"sizes": {...}, "day": "2020-02-08", "warm_up": true}'
    python bench/child.py day '{"sizes": {...}, "day": ..., "database_url": ..., "schema": ...}'

Prints one JSON document on its last line of stdout, with this process's peak memory.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import peak_rss_mb, settings_for
from generation import timed_day, warm_up


def generate(params: dict[str, Any]) -> dict[str, Any]:
    """A whole day of files in a fresh process.

    warm_up: first a one-row day (the value pools read, the formatting tables made), timed
    apart. keep_in: leave the files in that folder; otherwise each transactions chunk is
    deleted once written and the rest at the end.
    """
    settings = settings_for(params["sizes"])
    day = dt.date.fromisoformat(params["day"])
    warm_up_seconds = None
    if params.get("warm_up"):
        started = time.perf_counter()
        warm_up(settings, day)
        warm_up_seconds = round(time.perf_counter() - started, 4)
    if params.get("keep_in"):
        result = timed_day(settings, Path(params["keep_in"]), day)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-gen-") as folder:
            result = timed_day(settings, Path(folder), day, keep_files=False)
        del result["files"]
    return result | {"warm_up_seconds": warm_up_seconds}


def day(params: dict[str, Any]) -> dict[str, Any]:
    """run_day: create, generate, load, keys, checks, KPIs, report, email to an outbox.

    catch_up_seconds: how long the load's one-time catch-up took (0 when the schema held
    the previous day: none ran). scratch_in: the folder to hold the run's working folder
    and outbox (the bench watches its size); by default the system's temporary folder.
    """
    from customer_pipeline import load
    from customer_pipeline.pipeline import run_day

    catch_up = load._catch_up
    catch_up_seconds = 0.0

    def timed_catch_up(*args: Any) -> bool:
        nonlocal catch_up_seconds
        started = time.perf_counter()
        try:
            return catch_up(*args)  # whether it ran: the load merges by key when not
        finally:
            catch_up_seconds += time.perf_counter() - started

    load._catch_up = timed_catch_up  # the bench's probe: the catch-up is not the day's cost

    with tempfile.TemporaryDirectory(prefix="bench-day-", dir=params.get("scratch_in")) as scratch:
        settings = settings_for(
            params["sizes"],
            database_url=params["database_url"],
            schema=params["schema"],
            work_dir=Path(scratch) / "work",
            outbox_dir=Path(scratch) / "outbox",
        )
        started = time.perf_counter()
        summary = run_day(settings, dt.date.fromisoformat(params["day"]))
        seconds = time.perf_counter() - started
        sent = sorted(p.name for p in settings.outbox_dir.iterdir())
    return {
        "day": params["day"],
        "seconds": round(seconds, 4),
        "timings": summary.timings,
        "row_counts": summary.row_counts,
        "outbox_files": sent,
        "transaction_count": summary.metrics.get("transaction_count"),
        "catch_up_seconds": round(catch_up_seconds, 4),
    }


MODES = {"generate": generate, "day": day}

if __name__ == "__main__":
    mode, params = sys.argv[1], json.loads(sys.argv[2])
    result = MODES[mode](params)
    result["peak_rss_mb"] = peak_rss_mb()
    # processes this one started (none: the library uses threads) would not be counted
    result["started_processes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime > 0
    print(json.dumps(result))
