"""The database under test: BENCH_DATABASE_URL, or an embedded server in a fresh folder."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg
from common import BENCH_DIR
from psycopg import sql


@dataclass(frozen=True)
class Database:
    url: str
    psql: str  # the psql binary for the floor
    kind: str
    data_dir: Path | None = None  # the server's files, when they are on this machine (embedded)


@contextlib.contextmanager
def database() -> Iterator[Database]:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        psql = shutil.which("psql")
        if not psql:
            raise SystemExit("BENCH_DATABASE_URL is set but no psql is on PATH (for the floor)")
        yield Database(url, psql, "BENCH_DATABASE_URL")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="customer-pipeline-bench-pg-"))
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        psql = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
        kind = f"embedded pgserver {version('pgserver')}"
        yield Database(server.get_uri(), str(psql), kind, data_dir)
    finally:
        server.cleanup()


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


_SCHEMA_BYTES = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'm')
"""


def schema_bytes(url: str, schema: str) -> int:
    """What the schema's tables hold on disk, their indexes and TOAST included (a
    partitioned table's size is its partitions')."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(_SCHEMA_BYTES, [schema]).fetchone()[0])


def checkpoint(url: str) -> None:
    """Flush dirty pages, PostgreSQL's (if allowed) then the system's, so that every timed
    run starts from the same state: not behind the write-back of the run before."""
    with psycopg.connect(url, autocommit=True) as conn, contextlib.suppress(psycopg.Error):
        conn.execute("CHECKPOINT")
    os.sync()


def server_facts(url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "max_wal_size", "fsync", "synchronous_commit")
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    try:
        return subprocess.run(  # noqa: S603
            ["git", "-C", str(BENCH_DIR.parent), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_facts() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_mb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {
            name: _version(name)
            for name in ("customer-pipeline", "numpy", "faker", "psycopg", "pandas", "pgserver")
        },
        "git_commit": _git("rev-parse", "HEAD"),
        "git_src_changes": _git("status", "--porcelain", "--", "src"),
    }
