"""The DAG under `make airflow`: `bin/airflow standalone` (what the target runs) on a free
port (AIRFLOW_PORT), in an Airflow home of its own, Airflow's metadata and the pipeline's
data on an embedded PostgreSQL of its own (PIPELINE_PGDATA). A run triggered through the
REST API (/api/v2, as the simple auth manager's admin, with the password it generated) with
params must succeed, which it only can when the execution API URL followed the port, and
load its day, publish its tables' assets with the business date, and so trigger the weekly
DAG. The LocalExecutor is sized to the machine; no airflow.cfg is written; when Airflow
stops, the embedded server stops too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from conftest import expected_rows, free_port
from customer_pipeline.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
    from pgserver.utils import PostmasterInfo

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
    pgdata: Path
    url: str
    log: Path
    token: str = ""

    def database(self, dbname: str) -> psycopg.Connection:
        """A connection to a database of its embedded PostgreSQL (which must be running)."""
        return psycopg.connect(
            PostmasterInfo.read_from_pgdata(self.pgdata).get_uri(), dbname=dbname
        )

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
        """SIGTERM to bin/airflow alone, as `kill` of `make airflow` sends it; wait until every
        process it started is gone, the embedded PostgreSQL too (it stops when the last
        process using it exits)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
            self.wait_for(lambda: group_gone(self.process.pid), 60, "left after SIGTERM")
        finally:
            if not group_gone(self.process.pid):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.wait_for(lambda: server_gone(self.pgdata), 60, "PostgreSQL still running")


def server_gone(pgdata: Path) -> bool:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is None or not info.is_running()


def group_gone(pgid: int) -> bool:
    """Whether no process of the process group is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def standalone() -> Iterator[Standalone]:
    """`bin/airflow standalone` as `make airflow` starts it, logged in, its DAGs parsed.

    Its files live in a folder of its own (as the session's PostgreSQL does, see conftest),
    which the embedded server's user can reach; deleted afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="customer-pipeline-standalone-") as name:
        yield from started_standalone(Path(name))


def started_standalone(folder: Path) -> Iterator[Standalone]:
    port = free_port()
    env = project_env(
        folder / "airflow-home",
        port,
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",  # unpaused by the test: see trigger
        PIPELINE_PGDATA=str(folder / "pgdata"),
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
    airflow = Standalone(
        process, folder / "airflow-home", folder / "pgdata", f"http://127.0.0.1:{port}", log
    )
    try:
        airflow.wait_for(airflow.logged_in, 120, "never logged in")
        for dag_id in ("customer_pipeline", "customer_pipeline_weekly"):
            dag = f"/api/v2/dags/{dag_id}"
            airflow.wait_for(lambda: airflow.get(dag), 60, f"{dag_id} never appeared")  # noqa: B023
        yield airflow
    finally:
        airflow.stop()


RUN_ID = f"rest-{uuid.uuid4().hex[:8]}"
TABLES = (
    "customers",
    "products",
    "stores",
    "promotions",
    "transactions",
    "returns",
    "customers_history",
    "products_history",
    "daily_metrics",
)
WEEKLY = "customer_pipeline_weekly"


def trigger(standalone: Standalone, conf: dict) -> None:
    """Trigger RUN_ID with `conf`, then unpause the DAGs. The scheduler must schedule (it
    creates the asset-triggered runs), so the run takes the daily DAG's next scheduled slot
    (its logical date) while the DAG is still paused: the scheduler sees that slot taken
    and schedules no run of its own (it would load a day of the default sizes meanwhile)."""
    slot = standalone.request("GET", "/api/v2/dags/customer_pipeline")["next_dagrun_logical_date"]
    body = {"dag_run_id": RUN_ID, "logical_date": slot, "conf": conf}
    standalone.request("POST", "/api/v2/dags/customer_pipeline/dagRuns", body)
    for dag_id in (WEEKLY, "customer_pipeline"):  # the consumer first: it must see the events
        standalone.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})


@pytest.fixture(scope="module")
def triggered_run(standalone: Standalone) -> str:
    """The final state of RUN_ID, triggered through the REST API with params."""
    trigger(standalone, {"business_date": DAY.isoformat(), **PARAMS, "chunk_size": 10_000})
    return standalone.wait_for(lambda: run_state(standalone, RUN_ID), 90, "still running")


def test_a_run_triggered_through_the_rest_api_loads_its_day(
    standalone: Standalone, triggered_run: str
) -> None:
    assert triggered_run == "success", standalone.log_tail()
    with standalone.database("postgres") as conn:
        query = "SELECT count(*) FROM transactions WHERE business_date = %s"
        loaded = conn.execute(query, [DAY]).fetchone()[0]
    assert loaded == expected_rows(SETTINGS, DAY)["transactions"]


@pytest.mark.usefixtures("triggered_run")
def test_the_run_publishes_each_table_with_its_business_date(standalone: Standalone) -> None:
    published = sorted(
        (event["uri"].rpartition("/")[2], event["extra"]["business_date"])
        for event in asset_events(standalone)
    )
    assert published == sorted((table, DAY.isoformat()) for table in TABLES)


@pytest.mark.usefixtures("triggered_run")
def test_the_daily_metrics_event_runs_the_weekly_dag(standalone: Standalone) -> None:
    (metrics,) = [e for e in asset_events(standalone) if e["uri"].endswith("/daily_metrics")]
    (weekly_run,) = standalone.wait_for(
        lambda: weekly_runs(standalone, metrics["id"]), 60, "no weekly run was triggered"
    )
    state = standalone.wait_for(lambda: run_state(standalone, weekly_run, WEEKLY), 60, "running")
    assert state == "success", standalone.log_tail()


def asset_events(standalone: Standalone) -> list[dict]:
    """The asset events RUN_ID's tasks published."""
    path = f"/api/v2/assets/events?source_run_id={RUN_ID}&limit=100"
    return standalone.request("GET", path)["asset_events"]


def weekly_runs(standalone: Standalone, event_id: int) -> list[str]:
    """The weekly DAG's runs that the asset event created (empty until the scheduler did)."""
    (event,) = [e for e in asset_events(standalone) if e["id"] == event_id]
    return [run["run_id"] for run in event["created_dagruns"] if run["dag_id"] == WEEKLY]


@pytest.mark.usefixtures("triggered_run")
def test_the_metadata_is_on_the_embedded_postgresql(standalone: Standalone) -> None:
    with standalone.database("airflow") as conn:
        runs = conn.execute("SELECT run_id FROM dag_run WHERE run_id = %s", [RUN_ID]).fetchall()
    assert runs == [(RUN_ID,)]


def test_the_local_executor_has_two_workers_per_cpu(standalone: Standalone) -> None:
    (command,) = psutil.Process(standalone.process.pid).children()  # `airflow standalone`
    (scheduler,) = [p for p in command.children() if command_line(p).endswith(" scheduler")]
    workers = [p for p in scheduler.children() if "LocalExecutor" in command_line(p)]
    assert len(workers) == 2 * len(os.sched_getaffinity(0))  # Airflow's default: 32


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # exited meanwhile, or a zombie
        return ""


def test_no_airflow_cfg_is_written(standalone: Standalone) -> None:
    assert (standalone.home / "simple_auth_manager_passwords.json.generated").exists()
    assert not (standalone.home / "airflow.cfg").exists()


def run_state(standalone: Standalone, run_id: str, dag_id: str = "customer_pipeline") -> str | None:
    """The run's state once it has finished, else None."""
    run = standalone.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    return run["state"] if run["state"] in ("success", "failed") else None
