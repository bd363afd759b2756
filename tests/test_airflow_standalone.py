"""The DAG under `make airflow`: `bin/airflow standalone` (what the target runs) on a free
port (AIRFLOW_PORT), in an Airflow home of its own, with the pipeline's data in a schema of
the test PostgreSQL. A run triggered through the REST API (/api/v2, as the simple auth
manager's admin, with the password it generated) with params must succeed, which it only
can when the execution API URL followed the port, and load its day. The LocalExecutor is
sized to the machine; no airflow.cfg is written.

Asset events are not checked yet: the DAG declares no assets (issue 14, "Assets").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import expected_rows
from customer_pipeline.settings import Settings
from test_celery import free_port

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 20)
PARAMS = {"customers": 300, "products": 40, "stores": 12, "transactions": 20_000}
SETTINGS = Settings().replace(**PARAMS, chunk_size=10_000)  # what the run's params make

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(300)]


def project_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The caller's environment without its Airflow and pipeline settings, as a plain
    shell has it, with bin/airflow's two knobs: the home and the port."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PIPELINE_", "DATABASE_", "EMAIL_"))
    }
    return env | {"PIPELINE_AIRFLOW_HOME": str(home), "AIRFLOW_PORT": str(port), **extra}


@dataclass
class Standalone:
    """A running `bin/airflow standalone` and a client of its REST API."""

    process: subprocess.Popen
    home: Path
    url: str
    log: Path
    token: str = ""

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def wait_for(self, condition: Callable[[], Any], seconds: float, failure: str) -> Any:
        """condition()'s first truthy value, polled for at most `seconds`."""
        deadline = time.monotonic() + seconds
        while not (value := condition()):
            assert time.monotonic() < deadline, f"{failure}:\n{self.log_tail()}"
            time.sleep(0.5)
        return value

    def logged_in(self) -> bool:
        """Whether a JWT token was obtained as admin (False until the API server is up)."""
        assert self.process.poll() is None, "standalone exited:\n" + self.log_tail()
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            login = {"username": "admin", "password": json.loads(passwords.read_text())["admin"]}
            self.token = self.request("POST", "/auth/token", login)["access_token"]
        except (OSError, ValueError, KeyError):  # not listening yet, or no password yet
            return False
        return True

    def get(self, path: str) -> dict | None:
        """The resource, or None while it does not exist (404)."""
        try:
            return self.request("GET", path)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def stop(self) -> None:
        """SIGTERM to every process it started (its process group); wait until all are gone."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
            self.wait_for(lambda: group_gone(self.process.pid), 60, "left after SIGTERM")
        finally:
            if not group_gone(self.process.pid):
                os.killpg(self.process.pid, signal.SIGKILL)


def group_gone(pgid: int) -> bool:
    """Whether no process of the process group is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def pipeline_schema(database_url: str) -> Iterator[str]:
    """A schema of the test database for the module's runs, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def standalone(
    database_url: str, pipeline_schema: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standalone]:
    """`bin/airflow standalone` as `make airflow` starts it, logged in, its DAG parsed."""
    folder = tmp_path_factory.mktemp("standalone")
    port = free_port()
    env = project_env(
        folder / "airflow-home",
        port,
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",  # only the runs triggered here
        DATABASE_URL=database_url,
        DATABASE_SCHEMA=pipeline_schema,
        PIPELINE_WORK_DIR=str(folder / "work"),
        PIPELINE_OUTBOX_DIR=str(folder / "outbox"),
        PIPELINE_TASK_RETRIES="0",
    )
    log = folder / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "airflow"), "standalone"],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    airflow = Standalone(process, folder / "airflow-home", f"http://127.0.0.1:{port}", log)
    try:
        airflow.wait_for(airflow.logged_in, 120, "never logged in")
        dag = "/api/v2/dags/customer_pipeline"
        airflow.wait_for(lambda: airflow.get(dag), 60, "the DAG never appeared")
        yield airflow
    finally:
        airflow.stop()


def test_a_run_triggered_through_the_rest_api_loads_its_day(
    standalone: Standalone, database_url: str, pipeline_schema: str
) -> None:
    run_id = f"rest-{uuid.uuid4().hex[:8]}"
    conf = {"business_date": DAY.isoformat(), **PARAMS, "chunk_size": 10_000}
    body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    standalone.request("POST", "/api/v2/dags/customer_pipeline/dagRuns", body)
    state = standalone.wait_for(lambda: run_state(standalone, run_id), 90, "still running")
    assert state == "success", standalone.log_tail()
    loaded = loaded_transactions(database_url, pipeline_schema, DAY)
    assert loaded == expected_rows(SETTINGS, DAY)["transactions"]


def test_the_local_executor_has_two_workers_per_cpu(standalone: Standalone) -> None:
    import psutil

    components = psutil.Process(standalone.process.pid).children()
    (scheduler,) = [p for p in components if p.cmdline()[-1:] == ["scheduler"]]
    workers = [p for p in scheduler.children() if "LocalExecutor" in " ".join(p.cmdline())]
    assert len(workers) == 2 * len(os.sched_getaffinity(0))  # Airflow's default: 32


def test_no_airflow_cfg_is_written(standalone: Standalone) -> None:
    assert (standalone.home / "airflow.db").exists()  # the right home
    assert not (standalone.home / "airflow.cfg").exists()


def run_state(standalone: Standalone, run_id: str) -> str | None:
    """The run's state once it has finished, else None."""
    run = standalone.request("GET", f"/api/v2/dags/customer_pipeline/dagRuns/{run_id}")
    return run["state"] if run["state"] in ("success", "failed") else None


def loaded_transactions(database_url: str, schema: str, day: dt.date) -> int:
    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        query = "SELECT count(*) FROM transactions WHERE business_date = %s"
        return conn.execute(query, [day]).fetchone()[0]
