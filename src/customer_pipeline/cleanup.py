"""Step 7, delete_files: remove a run's working folder (CSV and report files).

The outbox is never touched. Only folders inside Settings.work_dir are removed (and the
date folder and work_dir itself once they are empty).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from customer_pipeline.errors import ConfigError
from customer_pipeline.settings import Settings


def run_folder(settings: Settings, day: dt.date, run_key: str) -> Path:
    """The working folder of one run: <work_dir>/<date>/<run key>."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_key).strip("._") or "run"
    return settings.work_dir / day.isoformat() / safe


def delete_files(settings: Settings, folder: str | Path) -> bool:
    """Delete a run folder; True if something was removed. Refuses paths outside work_dir."""
    folder = Path(folder).resolve()
    root = settings.work_dir.resolve()
    if root not in folder.parents:
        raise ConfigError(f"refusing to delete {folder}: not inside the work folder {root}")
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, root):  # tidy the date folder and work_dir when empty
        try:
            parent.rmdir()
        except OSError:
            break
    return existed
