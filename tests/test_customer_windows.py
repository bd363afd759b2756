"""The Customers section's window state (customer_windows): made from the previous date's
state and the days entering and leaving the window, it is the window's aggregate exactly;
a day loaded or reloaded since makes it be made from the window again. Real PostgreSQL; a
window of a few days (the constants patched) so that days leave it within the test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import generate_day
from customer_pipeline import customer_metrics
from customer_pipeline.customer_metrics import KEEP_STATES
from customer_pipeline.load import load_day
from customer_pipeline.metrics import calculate_metrics
from customer_pipeline.schema import create_tables
from customer_pipeline.settings import Settings

FIRST = dt.date(2026, 6, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(9)]
SIZES = {"customers": 300, "transactions": 300, "products": 20, "stores": 5}
STATE_SQL = (
    "SELECT customer_id, last_day, days, recent_days, cents FROM customer_windows "
    "WHERE business_date = %s"
)


@pytest.fixture
def small(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Small days; a window of 5 days, its recent part 2 (days leave both within DAYS), read
    through a state however short."""
    monkeypatch.setattr(customer_metrics, "RFM_DAYS", 5)
    monkeypatch.setattr(customer_metrics, "REPEAT_DAYS", 2)
    monkeypatch.setattr(customer_metrics, "STATE_FROM_DAYS", 1)  # a state from the first day
    small = settings.replace(**SIZES)
    create_tables(small)
    return small


@pytest.fixture
def kinds(monkeypatch: pytest.MonkeyPatch) -> dict[dt.date, str]:
    """How each date's state was made (window_state's answer), by date."""
    made: dict[dt.date, str] = {}
    original = customer_metrics.window_state

    def recorded(conn: psycopg.Connection, day: dt.date, partitions=None) -> str:
        made[day] = original(conn, day, partitions)
        return made[day]

    monkeypatch.setattr(customer_metrics, "window_state", recorded)
    return made


def load(settings: Settings, folder: Path, day: dt.date) -> None:
    load_day(settings, day, generate_day(settings, folder / str(day), day))


def window_aggregate(db: psycopg.Connection, day: dt.date) -> list[tuple]:
    """The date's state as made from the window's partitions, in a table of its own."""
    expected = f"expected_{day:%Y%m%d}"
    query = sql.SQL(customer_metrics._STATE_FROM_WINDOW_SQL).format(state=sql.Identifier(expected))
    params = {
        "day": day,
        "rfm_days": customer_metrics.RFM_DAYS,
        "repeat_days": customer_metrics.REPEAT_DAYS,
    }
    db.execute(query, params)
    rows = db.execute(
        sql.SQL("SELECT customer_id, last_day, days, recent_days, cents FROM {} ORDER BY 1").format(
            sql.Identifier(expected)
        )
    ).fetchall()
    db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(expected)))
    return rows


def state(db: psycopg.Connection, day: dt.date) -> list[tuple]:
    return db.execute(STATE_SQL + " ORDER BY 1", [day]).fetchall()


def test_each_day_s_state_made_from_the_previous_one_is_the_window_s_aggregate(
    small: Settings, db: psycopg.Connection, tmp_path: Path, kinds: dict
) -> None:
    for day in DAYS:
        load(small, tmp_path, day)
        calculate_metrics(small, day)
        found = state(db, day)
        assert found == window_aggregate(db, day) and found
    assert kinds[DAYS[0]] == "from window"
    assert {kinds[day] for day in DAYS[1:]} == {"from previous"}
    # days left the window: someone's count went down, and someone left it altogether
    last = dict((row[0], row[2]) for row in state(db, DAYS[-1]))
    assert any(days < 5 for days in last.values())
    states = db.execute("SELECT count(*) FROM customer_window_sources").fetchone()[0]
    partitions = db.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'customer_windows'::regclass"
    ).fetchone()[0]
    assert states == partitions == KEEP_STATES


def test_a_day_reloaded_inside_the_window_makes_the_next_state_from_the_window(
    small: Settings, db: psycopg.Connection, tmp_path: Path, kinds: dict
) -> None:
    for day in DAYS[:4]:
        load(small, tmp_path, day)
        calculate_metrics(small, day)
    # other lines for a day of the window: other buyers, a new partition
    load(small.replace(transactions=120), tmp_path / "again", DAYS[2])
    load(small, tmp_path, DAYS[4])
    calculate_metrics(small, DAYS[4])
    assert kinds[DAYS[4]] == "from window"
    assert state(db, DAYS[4]) == window_aggregate(db, DAYS[4])
    calculate_metrics(small, DAYS[4])  # again: nothing changed since
    assert kinds[DAYS[4]] == "kept"


def test_a_state_is_not_made_from_a_previous_one_made_of_other_days(
    small: Settings, db: psycopg.Connection, tmp_path: Path, kinds: dict
) -> None:
    """The previous date's state was made before a day of its window was loaded (a
    backfill): it is not used."""
    for day in (DAYS[0], DAYS[2]):
        load(small, tmp_path, day)
    calculate_metrics(small, DAYS[2])
    load(small, tmp_path, DAYS[1])  # late: in DAYS[2]'s window
    load(small, tmp_path, DAYS[3])
    calculate_metrics(small, DAYS[3])
    assert kinds[DAYS[3]] == "from window"
    assert state(db, DAYS[3]) == window_aggregate(db, DAYS[3])


def test_a_short_window_is_read_from_its_days_the_same_as_through_a_state(
    small: Settings, db: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer_metrics, "STATE_FROM_DAYS", 3)
    load(small, tmp_path, DAYS[0])
    first = calculate_metrics(small, DAYS[0])["customers"]
    assert db.execute("SELECT count(*) FROM customer_window_sources").fetchone()[0] == 0
    for day in DAYS[1:3]:
        load(small, tmp_path, day)
    with_state = calculate_metrics(small, DAYS[2])["customers"]
    assert db.execute("SELECT count(*) FROM customer_window_sources").fetchone()[0] == 1
    monkeypatch.setattr(customer_metrics, "STATE_FROM_DAYS", 99)
    assert calculate_metrics(small, DAYS[2])["customers"] == with_state  # from its days
    assert first["buyers"] > 0 and with_state["buyers"] > first["buyers"]
