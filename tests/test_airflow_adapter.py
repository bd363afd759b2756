"""The Airflow adapter's translations, tested with plain Connection objects and params.

Airflow is imported inside the tests, after the airflow_home fixture configured it.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(importlib.util.find_spec("airflow") is None, reason="needs apache-airflow"),
    pytest.mark.usefixtures("airflow_home"),
]


def connection(conn_type: str, **fields: Any) -> Any:
    from airflow.sdk import Connection

    extra = fields.pop("extra", None)
    return Connection(
        conn_id="c", conn_type=conn_type, extra=json.dumps(extra) if extra else None, **fields
    )


def settings(connections: dict[str, Any], **params: Any) -> Any:
    from customer_pipeline.airflow_adapter import build_settings

    return build_settings(params, connection=connections.get, env={})


def test_the_database_connection_gives_the_url_and_schema() -> None:
    db = connection(
        "postgres",
        host="db.internal",
        port=5433,
        login="shop",
        password="pw",
        schema="retail",
        extra={"search_path": "daily", "sslmode": "require", "not_libpq": "x"},
    )
    chosen = settings({"customers_db": db})
    assert chosen.db_schema == "daily"
    assert chosen.database_url == (
        "sslmode=require host=db.internal port=5433 user=shop password=pw dbname=retail"
    )


def test_without_a_database_connection_the_environment_decides() -> None:
    from customer_pipeline.airflow_adapter import build_settings

    chosen = build_settings({}, connection=lambda _conn_id: None, env={"DATABASE_SCHEMA": "s"})
    assert (chosen.database_url, chosen.db_schema) == (None, "s")


def test_the_smtp_connection_is_read_as_the_smtp_provider_reads_it() -> None:
    smtp = connection(
        "smtp",
        host="mail.internal",
        port=2525,
        login="me",
        password="pw",
        extra={"disable_ssl": True, "from_email": "reports@shop.test", "timeout": 5},
    )
    chosen = settings({"smtp_default": smtp}, email_backend="smtp", email_to=["m@shop.test"])
    assert (chosen.smtp_host, chosen.smtp_port, chosen.smtp_user) == ("mail.internal", 2525, "me")
    assert (chosen.smtp_ssl, chosen.smtp_starttls, chosen.smtp_timeout) == (False, True, 5.0)
    assert chosen.email_from == "reports@shop.test"


def test_the_sendgrid_connection_gives_the_key_and_host() -> None:
    sendgrid = connection(
        "sendgrid",
        host="127.0.0.1",
        port=8025,
        password="SG.key",
        extra={"from_email": "reports@shop.test"},
    )
    chosen = settings(
        {"sendgrid_default": sendgrid},
        email_backend="sendgrid",
        email_to=["m@shop.test"],
    )
    assert (chosen.sendgrid_api_key, chosen.sendgrid_host) == ("SG.key", "https://127.0.0.1:8025")


def test_a_connection_of_another_backend_is_not_read() -> None:
    smtp = connection("smtp", host="mail.internal", port=2525)
    assert settings({"smtp_default": smtp}).smtp_host == "localhost"


def test_a_bad_param_is_named_as_a_param() -> None:
    from customer_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="param 'customers' must be"):
        settings({}, customers=-1)


def test_files_and_checks_cross_xcom_as_dicts_and_come_back_as_they_were() -> None:
    from customer_pipeline.airflow_adapter import as_xcom, checks_from_xcom, files_from_xcom
    from customer_pipeline.generate.csvfile import GeneratedFile
    from customer_pipeline.quality import CheckResult

    file = GeneratedFile("stores", "/work/stores.csv", 3)
    check = CheckResult("orphan stores", True, 0, "0")
    warning = CheckResult("sales within the usual band", False, 12.5, "20 to 30", "warning", 20, 30)
    assert files_from_xcom([json.loads(json.dumps(as_xcom(file)))]) == [file]
    for result in (check, warning):
        assert checks_from_xcom([json.loads(json.dumps(as_xcom(result)))]) == [result]


def test_the_alert_only_and_bcc_params_are_booleans() -> None:
    from customer_pipeline.airflow_adapter import dag_params

    params = dag_params()
    for name in ("alert_only", "email_bcc"):
        assert params[name].schema["type"] == ["null", "boolean"]
        assert params[name].schema["section"] == "Delivery"
    assert settings({}, alert_only=True, email_bcc=True).alert_only is True
    assert settings({}, alert_only=None).alert_only is False  # empty: the environment's


def test_the_providers_options_extra_sets_the_schema_too() -> None:
    db = connection("postgres", host="db.internal", extra={"options": "-c search_path=daily"})
    chosen = settings({"customers_db": db})
    assert chosen.db_schema == "daily"
    assert "options='-c search_path=daily'" in chosen.database_url


def test_asset_uris_name_the_server_database_schema_and_table() -> None:
    from customer_pipeline.airflow_adapter import table_asset

    env = {"DATABASE_URL": "postgresql://u@db.internal:5433/shop", "DATABASE_SCHEMA": "daily"}
    assert (
        table_asset("transactions", env).uri
        == "postgres://db.internal:5433/shop/daily/transactions"
    )
    embedded = table_asset("customers", {})  # the embedded server, on a socket: localhost
    assert embedded.uri == "postgres://localhost:5432/postgres/public/customers"
