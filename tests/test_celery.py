"""The DAG on Airflow's distributed executor: `Procfile.celery` (what `make celery` runs)
started with honcho, two Celery workers, a Redis broker, the metadata database on the test
PostgreSQL. A triggered run must finish on the workers, both of them taking tasks, and
load the day.

Needs a Redis server (CELERY_TEST_BROKER_URL, default redis://127.0.0.1:6379/15):
skipped, with the reason, where there is none.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from conftest import expected_rows, free_port
from customer_pipeline.generate.transactions import transaction_chunks
from customer_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BROKER = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
DAY = dt.date(2026, 11, 20)
SIZES = {"customers": 300, "products": 40, "stores": 12, "transactions": 25_000}
RUN_ID = "celery-test"
SETTINGS = Settings().replace(**SIZES, chunk_size=10_000)  # what the run's params make
#: Celery's line for a task that a worker finished, as honcho prefixes it (group 1: the worker)
SUCCEEDED = re.compile(r"^\S*\s*(worker\.\d+)\s*\|.*execute_workload\[.*\] succeeded", re.M)


def broker_missing() -> str | None:
    """Why the broker cannot be used, or None."""
    try:  # without importing airflow here: test_dag configures it before its first import
        version("apache-airflow-providers-celery")
    except PackageNotFoundError:
        return "needs apache-airflow with the celery provider"
    import redis

    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis broker at {BROKER} ({type(exc).__name__}): set CELERY_TEST_BROKER_URL"
    return None


pytestmark = [pytest.mark.airflow, pytest.mark.timeout(420)]


def sqlalchemy_url(libpq_url: str, dbname: str) -> str:
    """The same server as a SQLAlchemy URL (psycopg 3), for database `dbname`."""
    info = conninfo_to_dict(libpq_url)
    user = quote(info.get("user") or "postgres", safe="")
    password = f":{quote(info['password'], safe='')}" if info.get("password") else ""
    host = info.get("host") or "127.0.0.1"
    if host.startswith("/"):  # a unix socket folder
        return f"postgresql+psycopg://{user}{password}@/{dbname}?host={quote(host)}"
    return f"postgresql+psycopg://{user}{password}@{host}:{info.get('port') or 5432}/{dbname}"


@pytest.fixture
def metadata_db(database_url: str) -> Iterator[str]:
    """A fresh database for Airflow's metadata on the test server (its name), dropped
    afterwards."""
    name = f"airflow_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=180
    )
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_a_run_on_two_celery_workers(
    database_url: str, schema: str, metadata_db: str, tmp_path: Path
) -> None:
    if reason := broker_missing():
        pytest.skip(reason)
    metadata_url = sqlalchemy_url(database_url, metadata_db)
    port = free_port()
    queue = f"customer_pipeline_test_{uuid.uuid4().hex[:8]}"  # not another run's workers
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PIPELINE_", "DATABASE_", "EMAIL_"))
    }
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": BROKER,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(16),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run triggered here
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "CELERY_CONCURRENCY": "1",
        "DATABASE_URL": database_url,
        "DATABASE_SCHEMA": schema,
        "PIPELINE_WORK_DIR": str(tmp_path / "work"),
        "PIPELINE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PIPELINE_TASK_RETRIES": "0",
        # a task's supervisor may notice its task's end only at its next heartbeat (Airflow's
        # 5 s): a second, not up to 5 s more per task
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    }
    (tmp_path / "airflow").mkdir()
    airflow(env, "db", "migrate")
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        cluster = subprocess.Popen(
            [str(BIN / "honcho"), "-f", str(ROOT / "Procfile.celery"), "--no-colour",
             "start", "-c", "worker=2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        with psycopg.connect(database_url, dbname=metadata_db, autocommit=True) as metadata:
            run_on_the_cluster(env, log, metadata)
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)
        forget_queue(queue)
    shutil.rmtree(tmp_path / "work", ignore_errors=True)

    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        loaded = conn.execute(
            "SELECT count(*) FROM transactions WHERE business_date = %s", [DAY]
        ).fetchone()[0]
        status = conn.execute(
            "SELECT status FROM pipeline_runs WHERE business_date = %s", [DAY]
        ).fetchall()
    assert loaded == expected_rows(SETTINGS, DAY)["transactions"]
    assert status == [("success",)]


def forget_queue(queue: str) -> None:
    """Remove the test's queue (and its bindings) from the broker."""
    import redis

    broker = redis.Redis.from_url(BROKER)
    keys = list(broker.scan_iter(match=f"*{queue}*"))
    if keys:
        broker.delete(*keys)
    for tag, message in broker.hgetall("unacked").items():  # reserved, never acknowledged
        if queue.encode() in message:
            broker.hdel("unacked", tag)
            broker.zrem("unacked_index", tag)


def run_on_the_cluster(env: dict[str, str], log: Path, metadata: psycopg.Connection) -> None:
    conf = {"business_date": DAY.isoformat(), **SIZES, "chunk_size": 10_000}
    deadline = time.monotonic() + 120
    stored = "SELECT count(*) FROM serialized_dag WHERE dag_id = 'customer_pipeline'"
    while not metadata.execute(stored).fetchone()[0]:  # until the dag-processor stored the DAG
        assert time.monotonic() < deadline, "the DAG never appeared:\n" + log.read_text()[-4000:]
        time.sleep(0.5)
    airflow(env, "dags", "unpause", "customer_pipeline")
    airflow(env, "dags", "trigger", "customer_pipeline", "--run-id", RUN_ID, "-c", json.dumps(conf))

    deadline = time.monotonic() + 240
    state = None
    while state not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run still {state}:\n" + log.read_text()[-6000:]
        time.sleep(0.5)
        row = metadata.execute("SELECT state FROM dag_run WHERE run_id = %s", [RUN_ID]).fetchone()
        state = row and row[0]
    text = log.read_text(errors="replace")
    assert state == "success", text[-6000:]

    tasks = metadata.execute(
        "SELECT task_id, map_index, state FROM task_instance WHERE run_id = %s", [RUN_ID]
    ).fetchall()
    assert {state for _, _, state in tasks} == {"success"}
    # every task of the DAG ran (as `airflow tasks list` names them); one mapped per chunk
    listed = airflow(env, "tasks", "list", "customer_pipeline").stdout.split()
    assert {task for task, _, _ in tasks} == set(listed) and len(listed) >= 13
    chunks = sorted(i for t, i, _ in tasks if t == "generate_transaction_data")
    assert chunks == list(range(len(transaction_chunks(SETTINGS, DAY)))) and len(chunks) > 1
    # each of the two workers ran tasks of the run (Celery logs every task it finishes)
    done = workers_that_finished(log, len(tasks))
    assert set(done) == {"worker.1", "worker.2"}, log.read_text(errors="replace")[-6000:]
    assert len(done) >= len(tasks)


def workers_that_finished(log: Path, tasks: int, timeout: float = 60) -> list[str]:
    """The honcho worker of each task Celery logged as succeeded, once `tasks` are logged
    (or the timeout passed). A worker logs a task's end after the task has stored its
    state: the last lines may come a moment after the run succeeded."""
    deadline = time.monotonic() + timeout
    while True:
        done = SUCCEEDED.findall(log.read_text(errors="replace"))
        if len(done) >= tasks or time.monotonic() > deadline:
            return done
        time.sleep(0.5)
