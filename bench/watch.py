"""What a running child process uses, sampled from outside: the peak resident memory of
its process tree (itself and every process it starts, summed) and the peak size of a
folder it writes into. Linux /proc only; elsewhere the tree's peak is left to the child's
own figure and the folder is still measured.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import defaultdict
from pathlib import Path

#: between samples: a short peak between two samples is missed (the child's own high-water
#: mark, VmHWM, catches its process's; see common.run_child)
INTERVAL_SECONDS = 0.2
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _parents() -> dict[int, list[int]]:
    """Every process's children, from each /proc/<pid>/stat's ppid."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(entry.path, "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children[ppid].append(int(entry.name))
    return children


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    return 0


def tree_rss_bytes(root: int) -> int:
    """The resident memory of `root` and all its descendants, summed (shared pages count
    once per process, as RSS does)."""
    children = _parents()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_bytes(pid)
        todo.extend(children.get(pid, ()))
    return total


def folder_bytes(folder: Path) -> int:
    """The size of every file under `folder` (files may vanish while it is walked)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name), follow_symlinks=False).st_size
    return total


class Watch:
    """Samples a process tree and, optionally, a folder in a thread until stopped (nothing
    when not enabled: the peaks stay 0).

    with Watch(pid, folder) as watch: ... ; then watch.peak_rss_bytes, watch.peak_folder_bytes
    """

    def __init__(self, pid: int, folder: Path | None = None, *, enabled: bool = True):
        self.pid, self.folder, self.enabled = pid, folder, enabled
        self.peak_rss_bytes = 0
        self.peak_folder_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)
        self._proc = Path("/proc").is_dir()

    def _sample(self) -> None:
        if self._proc:
            self.peak_rss_bytes = max(self.peak_rss_bytes, tree_rss_bytes(self.pid))
        if self.folder is not None:
            self.peak_folder_bytes = max(self.peak_folder_bytes, folder_bytes(self.folder))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            self._sample()

    def __enter__(self) -> Watch:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
