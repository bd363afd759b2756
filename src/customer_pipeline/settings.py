"""The one place that decides configuration.

A :class:`Settings` is built from the environment (:meth:`Settings.from_env`), then
overridden by CLI flags or Airflow params (:meth:`Settings.replace`), validated once
(:meth:`Settings.validate`) and handed down to every step. No other module reads the
environment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import psycopg
from email_validator import EmailNotValidError, validate_email
from psycopg.conninfo import conninfo_to_dict

from customer_pipeline.errors import ConfigError

EMAIL_BACKENDS: tuple[str, ...] = ("outbox", "smtp", "sendgrid")
LOCALES: tuple[str, ...] = ("en_US", "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL")

#: Rows of one random block: the unit of randomness of the transaction generator.
#: Chunk sizes are whole numbers of blocks, so the data never depends on the chunking.
BLOCK_ROWS = 10_000

#: Placeholders for the local outbox only. Real delivery (smtp, sendgrid) requires
#: EMAIL_FROM and EMAIL_TO to be configured; these reserved documentation addresses
#: (RFC 2606) are refused there.
PLACEHOLDER_FROM = "customer-pipeline@example.com"
PLACEHOLDER_TO = ("data-team@example.com",)

#: PIPELINE_CACHE_DIR values that turn the cache off
CACHE_OFF = ("off", "none", "false", "0")


def default_cache_dir() -> Path:
    """The user's cache folder (XDG_CACHE_HOME or ~/.cache on Linux)."""
    return Path(platformdirs.user_cache_dir("customer-pipeline", appauthor=False))


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MAX_SIZE = 1_000_000_000


def parse_date(value: str | dt.date) -> dt.date:
    """A business date from ``YYYY-MM-DD``; a clear error for anything else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ConfigError(f"invalid date {text!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"invalid date {text!r}: {exc}") from None


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"invalid boolean {value!r}: expected true or false")


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def _parse_float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,;\s]+", value) if part.strip())


def check_address(address: str) -> str:
    """The normalised address, or a ConfigError naming the bad one."""
    try:
        return validate_email(
            address, check_deliverability=False, globally_deliverable=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise ConfigError(f"invalid email address {address!r}: {exc}") from None


@dataclass(frozen=True)
class Sizes:
    """How many rows to generate: the original's defaults."""

    customers: int = 100
    products: int = 50
    stores: int = 20
    transactions: int = 1000

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated before the first write."""

    # database: DATABASE_URL, or the embedded server (pgserver) in embedded_pgdata
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    db_schema: str = "public"
    embedded_pgdata: Path = Path(".pgdata")
    connect_timeout: int = 10
    # data
    sizes: Sizes = field(default_factory=Sizes)
    seed: int = 42
    locale: str = "en_US"
    history_start: dt.date = dt.date(2020, 1, 1)
    chunk_size: int = 100_000
    reset: bool = False
    # files
    work_dir: Path = Path("work")
    outbox_dir: Path = Path("outbox")
    # kept between runs: Faker's value pools (generate/pools.py), compiled report
    # templates; None: no cache, rebuilt every time
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    # email
    email_backend: str = "outbox"
    email_from: str = PLACEHOLDER_FROM
    email_to: tuple[str, ...] = PLACEHOLDER_TO
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_host: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 30.0
    # email retries (smtp, sendgrid): attempts in all; the delay before a retry doubles
    # from email_retry_delay; any delay (and a server's Retry-After) is capped at the max
    email_attempts: int = 4
    email_retry_delay: float = 2.0
    email_retry_max_delay: float = 60.0

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from conventional environment variables; unset ones keep defaults."""
        default = cls()
        get = env.get

        def num(name: str, current: int) -> int:
            value = get(name)
            return current if value in (None, "") else _parse_int(name, value)

        def seconds(name: str, current: float) -> float:
            value = get(name)
            return current if value in (None, "") else _parse_float(name, value)

        sizes = Sizes(
            customers=num("PIPELINE_CUSTOMERS", default.sizes.customers),
            products=num("PIPELINE_PRODUCTS", default.sizes.products),
            stores=num("PIPELINE_STORES", default.sizes.stores),
            transactions=num("PIPELINE_TRANSACTIONS", default.sizes.transactions),
        )
        return cls(
            database_url=get("DATABASE_URL") or None,
            db_schema=get("DATABASE_SCHEMA") or default.db_schema,
            embedded_pgdata=Path(get("PIPELINE_PGDATA") or default.embedded_pgdata),
            sizes=sizes,
            seed=num("PIPELINE_SEED", default.seed),
            locale=get("PIPELINE_LOCALE") or default.locale,
            chunk_size=num("PIPELINE_CHUNK_SIZE", default.chunk_size),
            work_dir=Path(get("PIPELINE_WORK_DIR") or default.work_dir),
            outbox_dir=Path(get("PIPELINE_OUTBOX_DIR") or default.outbox_dir),
            cache_dir=_cache_dir(get("PIPELINE_CACHE_DIR"), default.cache_dir),
            email_backend=get("EMAIL_BACKEND") or default.email_backend,
            email_from=get("EMAIL_FROM") or default.email_from,
            email_to=_addresses(get("EMAIL_TO") or "") or default.email_to,
            sendgrid_api_key=get("SENDGRID_API_KEY") or None,
            sendgrid_host=get("SENDGRID_HOST") or None,
            smtp_host=get("SMTP_HOST") or default.smtp_host,
            smtp_port=num("SMTP_PORT", default.smtp_port),
            smtp_user=get("SMTP_USER") or None,
            smtp_password=get("SMTP_PASSWORD") or None,
            smtp_starttls=parse_bool(get("SMTP_STARTTLS") or "false"),
            smtp_ssl=parse_bool(get("SMTP_SSL") or "false"),
            email_attempts=num("EMAIL_ATTEMPTS", default.email_attempts),
            email_retry_delay=seconds("EMAIL_RETRY_DELAY", default.email_retry_delay),
            email_retry_max_delay=seconds("EMAIL_RETRY_MAX_DELAY", default.email_retry_max_delay),
        )

    def replace(self, **changes: object) -> Settings:
        """A copy with the given fields changed; ``None`` values are ignored.

        Size fields (customers, products, stores, transactions) may be given directly.
        """
        changes = {key: value for key, value in changes.items() if value is not None}
        size_changes = {
            key: changes.pop(key) for key in list(changes) if key in Sizes.__dataclass_fields__
        }
        if size_changes:
            changes["sizes"] = dataclasses.replace(self.sizes, **size_changes)
        if "email_to" in changes:
            to = changes["email_to"]
            changes["email_to"] = _addresses(to) if isinstance(to, str) else tuple(to)  # type: ignore[arg-type]
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # -- validation -----------------------------------------------------------------
    def validate(self) -> Settings:
        """Raise ConfigError (one line) on the first problem; return self otherwise."""
        if self.database_url:
            try:
                conninfo_to_dict(self.database_url)
            except psycopg.ProgrammingError:
                # never echoed: the URL may hold a password
                raise ConfigError("DATABASE_URL is not a valid PostgreSQL URL") from None
        for name, value in self.sizes.as_dict().items():
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"--{name} must be a non-negative integer, got {value!r}")
            if value > _MAX_SIZE:
                raise ConfigError(f"--{name} must be at most {_MAX_SIZE:,}, got {value:,}")
        if self.sizes.transactions > 0:
            empty = [n for n in ("customers", "products", "stores") if getattr(self.sizes, n) == 0]
            if empty:
                raise ConfigError(
                    f"transactions need at least one of each: {', '.join(empty)} is 0"
                )
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be an integer in [0, 2**63), got {self.seed!r}")
        if self.locale not in LOCALES:
            raise ConfigError(f"unknown locale {self.locale!r}: choose one of {', '.join(LOCALES)}")
        if self.chunk_size <= 0 or self.chunk_size % BLOCK_ROWS:
            raise ConfigError(
                f"chunk size must be a positive multiple of {BLOCK_ROWS:,}, got {self.chunk_size:,}"
            )
        if not _SCHEMA_NAME.match(self.db_schema):
            raise ConfigError(f"invalid database schema name {self.db_schema!r}")
        self._validate_email()
        return self

    def _validate_email(self) -> None:
        if self.email_backend not in EMAIL_BACKENDS:
            raise ConfigError(
                f"unknown email backend {self.email_backend!r}: "
                f"choose one of {', '.join(EMAIL_BACKENDS)}"
            )
        if not self.email_to:
            raise ConfigError("no email recipient: set EMAIL_TO or pass --to")
        for address in (self.email_from, *self.email_to):
            check_address(address)
        if self.email_backend != "outbox":
            placeholders = {PLACEHOLDER_FROM, *PLACEHOLDER_TO} & {self.email_from, *self.email_to}
            if placeholders:
                raise ConfigError(
                    f"the {self.email_backend} backend needs real addresses: set EMAIL_FROM "
                    f"and EMAIL_TO (or --from/--to); {sorted(placeholders)[0]} is a placeholder"
                )
        if self.email_backend == "sendgrid" and not self.sendgrid_api_key:
            raise ConfigError("the sendgrid backend needs an API key: set SENDGRID_API_KEY")
        if self.sendgrid_api_key and not re.fullmatch(r"[!-~]+", self.sendgrid_api_key):
            # never echoed: a stray newline from a mounted secret is the usual cause
            raise ConfigError(
                "the SendGrid API key contains spaces, line breaks or other characters "
                "an API key never has"
            )
        if self.email_backend == "smtp" and not 0 < self.smtp_port < 65536:
            raise ConfigError(f"invalid SMTP port {self.smtp_port}")
        if self.smtp_ssl and self.smtp_starttls:
            raise ConfigError("choose one of SMTP_SSL (implicit TLS) and SMTP_STARTTLS, not both")
        if not isinstance(self.email_attempts, int) or not 1 <= self.email_attempts <= 20:
            raise ConfigError(
                f"EMAIL_ATTEMPTS must be an integer in [1, 20], got {self.email_attempts!r}"
            )
        for name in ("email_retry_delay", "email_retry_max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 3600:
                raise ConfigError(f"{name.upper()} must be seconds in [0, 3600], got {value!r}")
        if self.sendgrid_host and not re.match(r"^https?://[^/\s]+", self.sendgrid_host):
            raise ConfigError(
                f"invalid SENDGRID_HOST {self.sendgrid_host!r}: expected http(s)://host[:port]"
            )

    def check_business_date(self, day: dt.date) -> dt.date:
        if day < self.history_start:
            raise ConfigError(
                f"business date {day} is before the history start {self.history_start}"
            )
        return day


def _cache_dir(value: str | None, default: Path | None) -> Path | None:
    if not value:
        return default
    return None if value.strip().lower() in CACHE_OFF else Path(value)
