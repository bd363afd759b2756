"""What every part of the benchmark shares: the reference scale, settings, child processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from watch import Watch

from customer_pipeline.generate.calendar import transaction_count
from customer_pipeline.generate.transactions import transaction_chunks
from customer_pipeline.settings import Settings

BENCH_DIR = Path(__file__).resolve().parent
#: The issue's reference scale "1M": one day of 1M transactions.
REFERENCE = {"customers": 1_000_000, "products": 10_000, "stores": 500, "transactions": 1_000_000}
SEED = 42

err = Console(stderr=True)


def scaled(sizes: dict[str, int], factor: float) -> dict[str, int]:
    """Every size times `factor`, at least one row each."""
    return {name: max(1, round(rows * factor)) for name, rows in sizes.items()}


def reference_day(settings: Settings, tolerance: float = 0.01) -> dt.date:
    """The first day of the history whose transactions are within `tolerance` of --transactions.

    A day's volume is --transactions x weekday x season x growth x noise (generate/calendar)
    and the customers file holds every sign-up up to the day: an early day whose volume is
    the reference's is the closest to the issue's "100k customers, 1M transactions".
    """
    target = settings.sizes.transactions
    for offset in range(2 * 366):
        day = settings.history_start + dt.timedelta(days=offset)
        chunks = transaction_chunks(settings, day)
        if chunks and abs(chunks[-1][1] / target - 1) <= tolerance:
            return day
    return settings.history_start


def similar_day(settings: Settings, day: dt.date) -> dt.date:
    """The day of the history's first year whose transactions are closest to `day`'s (issue
    12: a late day costs per transaction "within 15% of a day in 2020 of similar volume")."""
    target = transaction_count(settings, day)
    first_year = (settings.history_start + dt.timedelta(days=offset) for offset in range(366))
    return min(first_year, key=lambda early: abs(transaction_count(settings, early) - target))


def log(message: str) -> None:
    err.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/dim] {message}", highlight=False)


def describe_sizes(sizes: dict[str, int]) -> str:
    return " / ".join(f"{rows:,} {name}" for name, rows in sizes.items())


def settings_for(
    sizes: dict[str, int],
    *,
    database_url: str | None = None,
    schema: str = "public",
    work_dir: Path | None = None,
    outbox_dir: Path | None = None,
) -> Settings:
    """The library's defaults (not the environment: runs are comparable), these sizes."""
    scratch = Path(tempfile.gettempdir())
    return (
        Settings(
            database_url=database_url,
            db_schema=schema,
            work_dir=work_dir or scratch / "customer-pipeline-bench-work",
            outbox_dir=outbox_dir or scratch / "customer-pipeline-bench-outbox",
            email_backend="outbox",
        )
        .replace(seed=SEED, **sizes)
        .validate()
    )


@dataclass(frozen=True)
class ChildResult:
    """What a child process printed (one JSON document) and its peak memory.

    peak_rss_mb: the child's own high-water mark (VmHWM). tree_peak_rss_mb: the larger of
    that and the sampled peak of the child and every process it started, summed
    (watch.Watch). folder_peak_bytes: the sampled peak size of the folder watched, if any.
    """

    result: dict[str, Any]
    peak_rss_mb: float
    tree_peak_rss_mb: float
    folder_peak_bytes: int | None = None


def peak_rss_mb() -> float:
    """This process's own peak resident memory (threads included), in MB.

    VmHWM, not getrusage: ru_maxrss survives execve, so a child started by a big parent
    would report the parent's peak as its own.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_child(
    mode: str, params: dict[str, Any], *, watch: bool = False, watch_folder: Path | None = None
) -> ChildResult:
    """Run bench/child.py in a fresh interpreter; its result and its peak memory. watch:
    also sample its process tree's memory and the size of `watch_folder` while it runs
    (a thread of this process: off for the measurements that only need the child's own)."""
    child = subprocess.Popen(  # noqa: S603 (our own script, our own interpreter)
        [sys.executable, str(BENCH_DIR / "child.py"), mode, json.dumps(params)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with Watch(child.pid, watch_folder, enabled=watch) as watcher:
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(
            f"bench/child.py {mode} failed ({child.returncode}):\n"
            + stderr.decode(errors="replace")[-4000:]
        )
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    own = result["peak_rss_mb"]
    return ChildResult(
        result,
        own,
        max(own, round(watcher.peak_rss_bytes / 2**20, 1)),
        watcher.peak_folder_bytes if watch and watch_folder is not None else None,
    )
