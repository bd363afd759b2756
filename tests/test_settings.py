"""Settings: the one place configuration is decided, and the first line of defence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from customer_pipeline.errors import ConfigError
from customer_pipeline.settings import BLOCK_ROWS, Settings, Sizes, default_cache_dir, parse_date

SENDER = "reports@shop.test"
RECIPIENTS = ("manager@shop.test", "owner@shop.test")
API_KEY = "SG.test-key"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30", "day is out of range"),
        ("2026-13-01", "month must be in 1..12"),
        ("20261120", "expected YYYY-MM-DD"),
        ("yesterday", "expected YYYY-MM-DD"),
        ("", "expected YYYY-MM-DD"),
    ],
)
def test_bad_dates_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_date(text)
    assert "\n" not in str(info.value)


def test_good_date() -> None:
    assert parse_date("2026-11-20") == dt.date(2026, 11, 20)


def test_defaults_are_the_originals_sizes() -> None:
    assert Settings().sizes == Sizes(customers=2000, products=50, stores=20, transactions=1000)
    Settings().validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customers": -1}, "--customers must be a non-negative integer"),
        ({"transactions": -5}, "--transactions must be a non-negative integer"),
        ({"customers": 0}, "transactions need at least one of each: customers is 0"),
        ({"products": 0, "stores": 0}, "products, stores is 0"),
        ({"seed": -1}, "--seed must be an integer"),
        ({"chunk_size": BLOCK_ROWS + 1}, "multiple of 10,000"),
        ({"locale": "xx_YY"}, "unknown locale"),
        ({"email_backend": "pigeon"}, "unknown email backend 'pigeon'"),
        ({"email_to": ["not-an-address"]}, "invalid email address 'not-an-address'"),
        ({"email_from": "a@@b"}, "invalid email address"),
        ({"db_schema": "Robert'); DROP"}, "invalid database schema name"),
        (
            {"email_backend": "sendgrid", "email_from": "a@shop.test", "email_to": ["b@shop.test"]},
            "needs an API key",
        ),
        ({"email_backend": "smtp"}, "needs real addresses"),
        ({"smtp_ssl": True, "smtp_starttls": True}, "not both"),
        ({"sendgrid_host": "api.sendgrid.com"}, "invalid SENDGRID_HOST"),
    ],
)
def test_bad_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Settings().replace(**changes).validate()
    assert "\n" not in str(info.value)


def test_zero_transactions_need_no_dimensions() -> None:
    Settings().replace(customers=0, products=0, stores=0, transactions=0).validate()


def test_environment_is_read_once_here() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@127.0.0.1/db",
            "PIPELINE_CUSTOMERS": "7",
            "PIPELINE_SEED": "9",
            "EMAIL_TO": "a@shop.test, b@shop.test",
            "EMAIL_BACKEND": "smtp",
            "SMTP_PORT": "2525",
            "SMTP_STARTTLS": "true",
        }
    )
    assert settings.database_url == "postgresql://u@127.0.0.1/db"
    assert settings.sizes.customers == 7
    assert settings.sizes.products == 50
    assert settings.seed == 9
    assert settings.email_to == ("a@shop.test", "b@shop.test")
    assert (settings.email_backend, settings.smtp_port, settings.smtp_starttls) == (
        "smtp",
        2525,
        True,
    )


def test_the_cache_folder_can_be_moved_or_turned_off(tmp_path: Path) -> None:
    assert Settings().cache_dir is None  # Settings() reads no environment; from_env does
    assert Settings.from_env({}).cache_dir == default_cache_dir()
    assert default_cache_dir().name == "customer-pipeline"
    assert Settings.from_env({"PIPELINE_CACHE_DIR": str(tmp_path)}).cache_dir == tmp_path
    for off in ("off", "OFF", "none", "0"):
        assert Settings.from_env({"PIPELINE_CACHE_DIR": off}).cache_dir is None


def test_environment_numbers_are_checked() -> None:
    with pytest.raises(ConfigError, match="PIPELINE_TRANSACTIONS must be an integer"):
        Settings.from_env({"PIPELINE_TRANSACTIONS": "lots"})


def test_replace_ignores_none_and_rejects_unknown() -> None:
    base = Settings()
    assert base.replace(seed=None, customers=None) == base
    assert base.replace(transactions=5).sizes.transactions == 5
    with pytest.raises(ConfigError, match="unknown setting"):
        base.replace(colour="blue")


def test_dates_before_history_start_are_refused() -> None:
    with pytest.raises(ConfigError, match="before the history start"):
        Settings().check_business_date(dt.date(2019, 12, 31))


def test_secrets_stay_out_of_messages_and_reprs() -> None:
    settings = Settings(
        database_url="postgresql://shop:s3cret-pw@db.example.net/shop",
        sendgrid_api_key="SG.k3y",
        smtp_password="smtp-pw",
    )
    assert not {"s3cret-pw", "SG.k3y", "smtp-pw"} & set(repr(settings).replace("'", " ").split())
    assert "s3cret-pw" not in repr(settings)
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL") as info:
        Settings(database_url="postgresql://shop:pa ss@db/shop").validate()
    assert "pa ss" not in str(info.value)


def test_an_api_key_with_a_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="API key contains") as info:
        Settings(sendgrid_api_key="SG.k3y\n").validate()
    assert "SG.k3y" not in str(info.value)


def test_the_readme_configuration_table_lists_every_variable() -> None:
    import re

    from customer_pipeline.settings import OPTIONS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z_]+)`", cell)}
    assert documented == {option.env for option in OPTIONS}


# -- e-mail settings ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"email_backend": "pigeon"}, r"unknown email backend 'pigeon'"),
        ({"email_to": ("manager-at-shop.test",)}, r"invalid email address 'manager-at-shop.test'"),
        ({"email_from": "reports@"}, r"invalid email address 'reports@'"),
        ({"email_to": ()}, r"no email recipient"),
        ({"email_backend": "sendgrid"}, r"needs an API key"),
        ({"email_backend": "sendgrid", "sendgrid_api_key": ""}, r"needs an API key"),
        (
            {"email_backend": "smtp", "email_from": Settings().email_from},
            r"customer-pipeline@example.com is a placeholder",
        ),
        (
            {"email_backend": "smtp", "email_to": Settings().email_to},
            r"data-team@example.com is a placeholder",
        ),
        (
            {"email_backend": "sendgrid", "email_to": Settings().email_to, "sendgrid_api_key": "k"},
            r"placeholder",
        ),
        ({"email_backend": "smtp", "smtp_port": 0}, r"SMTP_PORT must be .*, got 0"),
        ({"email_backend": "smtp", "smtp_port": 65536}, r"SMTP_PORT must be .*, got 65536"),
    ],
)
def test_email_settings_are_validated(changes: dict[str, Any], match: str) -> None:
    settings = Settings(email_from=SENDER, email_to=RECIPIENTS).replace(**changes)
    if "email_to" in changes:  # the case really is what it claims
        assert settings.email_to == tuple(changes["email_to"])
    with pytest.raises(ConfigError, match=match) as caught:
        settings.validate()
    assert "\n" not in str(caught.value)


def test_placeholders_are_fine_for_the_outbox() -> None:
    assert Settings().validate().email_to == ("data-team@example.com",)


@pytest.mark.parametrize("backend", ["smtp", "sendgrid"])
def test_real_addresses_are_accepted(backend: str) -> None:
    settings = Settings(
        email_backend=backend, email_from=SENDER, email_to=RECIPIENTS, sendgrid_api_key=API_KEY
    )
    assert settings.validate() is settings


def test_api_key_is_not_in_the_settings_repr() -> None:
    assert API_KEY not in repr(Settings(sendgrid_api_key=API_KEY, smtp_password=API_KEY))
