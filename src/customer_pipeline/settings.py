"""The one place that decides configuration.

Every setting is declared once, in :data:`OPTIONS`: its environment variable, CLI flag,
default, bounds and help. A :class:`Settings` is built from the environment
(:meth:`Settings.from_env`), then overridden by CLI flags or Airflow params
(:meth:`Settings.replace`), validated once (:meth:`Settings.validate`) and handed down to
every step. It remembers where each value came from, so that an error names the
variable, flag or param the user set. No other module reads the environment, but for
the Airflow adapter at parse time (the tasks' retries, where the assets live), which
Airflow needs before any task runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from customer_pipeline.errors import ConfigError

EMAIL_BACKENDS: tuple[str, ...] = ("outbox", "smtp", "sendgrid")
LOCALES: tuple[str, ...] = ("en_US", "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL")

#: Rows of one random block: the unit of randomness of the transaction generator.
#: Chunk sizes are whole numbers of blocks, so the data never depends on the chunking.
BLOCK_ROWS = 10_000
#: The largest size (and the largest day, after the calendar's growth) accepted.
MAX_ROWS = 1_000_000_000
#: The business dates a dataset can have: from its history start to the end of LAST_DATE's
#: year. Far-future dates would only grow the customer base without bound.
HISTORY_START = dt.date(2020, 1, 1)
LAST_DATE = dt.date(2099, 12, 31)
#: The same bound as a JSON-schema pattern (the DAG's business_date param): years 2020-2099.
DATE_PATTERN = r"^20[2-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

#: Placeholders for the local outbox only. Real delivery (smtp, sendgrid) requires
#: EMAIL_FROM and EMAIL_TO to be configured; these reserved documentation addresses
#: (RFC 2606) are refused there.
PLACEHOLDER_FROM = "customer-pipeline@example.com"
PLACEHOLDER_TO = ("data-team@example.com",)

#: PIPELINE_CACHE_DIR values that turn the cache off
CACHE_OFF = ("off", "none", "false", "0")


def default_cache_dir() -> Path:
    """The user's cache folder (XDG_CACHE_HOME or ~/.cache on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("customer-pipeline", appauthor=False))


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Schemas PostgreSQL keeps for itself (pg_* names are reserved: pg_catalog, pg_toast,
#: pg_temp_N, ...).
_SYSTEM_SCHEMA = re.compile(r"^(pg_.*|information_schema)$")


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


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,;\s]+", value) if part.strip())


def _cache_dir(value: str) -> Path | None:
    return None if value.strip().lower() in CACHE_OFF else Path(value)


def parse_sender(text: str) -> tuple[str, str]:
    """(display name, address) of ``address`` or ``Name <address>``; a ConfigError for
    anything else (several addresses, trailing text, a bad address)."""
    if not any(c in text for c in '<>,;"\r\n'):  # a bare address: its own message
        return "", check_address(text.strip())
    pairs = email.utils.getaddresses([text])
    if len(pairs) != 1 or not pairs[0][1] or any(c in text for c in "\r\n"):
        raise ConfigError(
            f"invalid sender {text!r}: expected an address or 'Display Name <address>'"
        )
    name, address = pairs[0]
    return name.strip(), check_address(address)


def check_address(address: str) -> str:
    """The normalised address, or a ConfigError naming the bad one."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(
            address, check_deliverability=False, globally_deliverable=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise ConfigError(f"invalid email address {address!r}: {exc}") from None


# -- the declarations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting, declared once: read by from_env, shown by the CLI and the DAG's form."""

    name: str  # the Settings field (or Sizes field)
    env: str  # its environment variable
    help: str
    flag: str | None = None  # its CLI flag, where the CLI offers one
    kind: type = str  # int, float, bool, str, Path, tuple (addresses)
    minimum: float | None = None
    maximum: float | None = None
    multiple_of: int | None = None
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], object] | None = None  # text -> value, when not kind(text)

    def read(self, text: str) -> object:
        """The value of this option's environment text."""
        if self.parse is not None:
            return self.parse(text)
        if self.kind is bool:
            return parse_bool(text)
        if self.kind in (int, float):
            try:
                return self.kind(text)
            except ValueError:
                noun = "an integer" if self.kind is int else "a number"
                raise ConfigError(f"{self.env} must be {noun}, got {text!r}") from None
        return self.kind(text)

    def check(self, value: object, where: str) -> None:
        """Raise ConfigError (naming `where` the value came from) unless it is in bounds."""
        if self.choices is not None and value not in self.choices:
            what = self.name.replace("_", " ")
            raise ConfigError(
                f"unknown {what} {value!r} ({where}): choose one of {', '.join(self.choices)}"
            )
        if self.minimum is None and self.maximum is None:
            return
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind is int and not isinstance(value, int):
            numeric = False
        low, high = self.minimum, self.maximum
        if not numeric or (low is not None and value < low) or (high is not None and value > high):
            noun = "an integer" if self.kind is int else "a number"
            if low == 0 and high == MAX_ROWS:
                wanted = f"a non-negative integer, at most {high:,}"
            elif high is None:
                wanted = f"{noun} >= {low:,}"
            else:
                wanted = f"{noun} in [{low:,}, {high:,}]"
            raise ConfigError(f"{where} must be {wanted}, got {value!r}")
        if self.multiple_of and value % self.multiple_of:
            raise ConfigError(
                f"{where} must be a positive multiple of {self.multiple_of:,}, got {value:,}"
            )


def _sizes(what: str) -> dict[str, object]:
    return {"kind": int, "minimum": 0, "maximum": MAX_ROWS, "help": what}


#: Every setting a user can change. The README's configuration table is checked against it.
OPTIONS: tuple[Option, ...] = (
    Option("database_url", "DATABASE_URL", "libpq URL of PostgreSQL 15+; unset: embedded"),
    Option("db_schema", "DATABASE_SCHEMA", "schema holding the pipeline's tables"),
    Option("embedded_pgdata", "PIPELINE_PGDATA", "the embedded server's data folder", kind=Path),
    Option(
        "customers",
        "PIPELINE_CUSTOMERS",
        flag="--customers",
        **_sizes("Customers at the history start; sign-ups add more every day."),
    ),
    Option("products", "PIPELINE_PRODUCTS", flag="--products", **_sizes("Products.")),
    Option("stores", "PIPELINE_STORES", flag="--stores", **_sizes("Stores.")),
    Option(
        "transactions",
        "PIPELINE_TRANSACTIONS",
        flag="--transactions",
        **_sizes("A typical day's transactions; weekday, season and growth vary it."),
    ),
    Option(
        "seed",
        "PIPELINE_SEED",
        "Random seed: the same seed and date give the same data.",
        flag="--seed",
        kind=int,
        minimum=0,
        maximum=2**63 - 1,
    ),
    Option(
        "locale",
        "PIPELINE_LOCALE",
        "Locale of names and addresses.",
        flag="--locale",
        choices=LOCALES,
    ),
    Option(
        "chunk_size",
        "PIPELINE_CHUNK_SIZE",
        "Transactions per generated file (an Airflow mapped task each).",
        flag="--chunk-size",
        kind=int,
        minimum=BLOCK_ROWS,
        maximum=MAX_ROWS,
        multiple_of=BLOCK_ROWS,
    ),
    Option("work_dir", "PIPELINE_WORK_DIR", "where a run's files live until deleted", kind=Path),
    Option(
        "outbox_dir",
        "PIPELINE_OUTBOX_DIR",
        "Outbox folder: the outbox backend's messages, and undeliverable ones.",
        flag="--outbox",
        kind=Path,
    ),
    Option(
        "cache_dir",
        "PIPELINE_CACHE_DIR",
        "compiled report templates kept between runs; off: none",
        parse=_cache_dir,
    ),
    Option(
        "email_backend",
        "EMAIL_BACKEND",
        "How the report is sent.",
        flag="--email-backend",
        choices=EMAIL_BACKENDS,
    ),
    Option(
        "email_from",
        "EMAIL_FROM",
        "Sender: an address, or a display name and address ('Sales Reports <r@shop.com>').",
        flag="--from",
    ),
    Option(
        "email_to",
        "EMAIL_TO",
        "Recipient; repeat for several (EMAIL_TO: separated by commas).",
        flag="--to",
        kind=tuple,
        parse=_addresses,
    ),
    Option(
        "email_bcc",
        "EMAIL_BCC",
        "Recipients not shown to each other (Bcc; SendGrid: one personalization each).",
        flag="--bcc",
        kind=bool,
    ),
    Option(
        "alert_only",
        "PIPELINE_ALERT_ONLY",
        "Send the report only when a KPI is flagged or a check warns.",
        flag="--alert-only",
        kind=bool,
    ),
    Option("sendgrid_api_key", "SENDGRID_API_KEY", "SendGrid API key"),
    Option("sendgrid_host", "SENDGRID_HOST", "another SendGrid API host (tests)"),
    Option("smtp_host", "SMTP_HOST", "SMTP server"),
    Option("smtp_port", "SMTP_PORT", "SMTP port", kind=int, minimum=1, maximum=65535),
    Option("smtp_user", "SMTP_USER", "SMTP login"),
    Option("smtp_password", "SMTP_PASSWORD", "SMTP password"),
    Option("smtp_starttls", "SMTP_STARTTLS", "STARTTLS after connecting", kind=bool),
    Option("smtp_ssl", "SMTP_SSL", "implicit TLS", kind=bool),
    Option("smtp_timeout", "SMTP_TIMEOUT", "SMTP timeout, seconds", kind=float, minimum=1),
    Option(
        "email_attempts",
        "EMAIL_ATTEMPTS",
        "delivery attempts in all (smtp, sendgrid)",
        kind=int,
        minimum=1,
        maximum=20,
    ),
    Option(
        "email_retry_delay",
        "EMAIL_RETRY_DELAY",
        "seconds before the first retry (doubling)",
        kind=float,
        minimum=0,
        maximum=3600,
    ),
    Option(
        "email_retry_max_delay",
        "EMAIL_RETRY_MAX_DELAY",
        "the cap of any delay, Retry-After too",
        kind=float,
        minimum=0,
        maximum=3600,
    ),
)
OPTION: dict[str, Option] = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Sizes:
    """How many rows to generate: the original's defaults."""

    customers: int = 2000
    products: int = 50
    stores: int = 20
    transactions: int = 1000

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


_SIZE_FIELDS = frozenset(field.name for field in dataclasses.fields(Sizes))


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
    history_start: dt.date = HISTORY_START
    chunk_size: int = 100_000
    reset: bool = False
    # files
    work_dir: Path = Path("work")
    outbox_dir: Path = Path("outbox")
    # kept between runs (compiled report templates); None: no cache. from_env defaults it
    # to the user's cache folder.
    cache_dir: Path | None = None
    # email
    email_backend: str = "outbox"
    email_from: str = PLACEHOLDER_FROM
    email_to: tuple[str, ...] = PLACEHOLDER_TO
    email_bcc: bool = False  # the recipients do not see each other
    alert_only: bool = False  # the report only when something is unusual
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
    # where each value that is not a default came from ("PIPELINE_SEED", "--seed", ...),
    # for error messages; not part of the settings' identity
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from the environment variables of OPTIONS; unset ones keep defaults."""
        values = {
            option.name: option.read(env[option.env])
            for option in OPTIONS
            if env.get(option.env, "").strip()
        }
        values.setdefault("cache_dir", default_cache_dir())
        origins = {name: OPTION[name].env for name in values if env.get(OPTION[name].env)}
        return cls().replace(_origin=None, **values).with_origins(origins)

    def replace(self, _origin: str | None = "flag", **changes: object) -> Settings:
        """A copy with the given fields changed; ``None`` values are ignored.

        Size fields (customers, products, stores, transactions) may be given directly.
        `_origin` says where the values came from, for error messages: "flag" (the CLI
        flag of each option), "param" (an Airflow param of the same name), or None.
        """
        changes = {key: value for key, value in changes.items() if value is not None}
        unknown = set(changes) - set(self.__dataclass_fields__) - _SIZE_FIELDS - {"origins"}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        origins = dict(self.origins)
        for name in changes:
            origins.pop(name, None)
            if _origin == "param":
                origins[name] = f"param {name!r}"
        size_changes = {key: changes.pop(key) for key in list(changes) if key in _SIZE_FIELDS}
        if size_changes:
            changes["sizes"] = dataclasses.replace(self.sizes, **size_changes)
        if "email_to" in changes:
            to = changes["email_to"]
            changes["email_to"] = _addresses(to) if isinstance(to, str) else tuple(to)  # type: ignore[arg-type]
        changes["origins"] = origins
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_origins(self, origins: Mapping[str, str]) -> Settings:
        return dataclasses.replace(self, origins={**self.origins, **origins})

    def origin(self, name: str) -> str:
        """How the user names a setting: where its value came from, else its flag or
        variable."""
        option = OPTION.get(name)
        fallback = (option.flag or option.env) if option else name
        return self.origins.get(name, fallback)

    @property
    def sender(self) -> tuple[str, str]:
        """(display name, address) of email_from; the name may be empty."""
        return parse_sender(self.email_from)

    def value(self, name: str) -> object:
        return getattr(self.sizes, name) if name in _SIZE_FIELDS else getattr(self, name)

    # -- validation -----------------------------------------------------------------
    def validate(self) -> Settings:
        """Raise ConfigError (one line) on the first problem; return self otherwise."""
        if self.database_url:
            from psycopg import ProgrammingError
            from psycopg.conninfo import conninfo_to_dict

            try:
                conninfo_to_dict(self.database_url)
            except ProgrammingError:
                # never echoed: the URL may hold a password
                raise ConfigError(
                    f"{self.origin('database_url')} is not a valid PostgreSQL URL"
                ) from None
        for option in OPTIONS:
            option.check(self.value(option.name), self.origin(option.name))
        if self.sizes.transactions > 0:
            empty = [n for n in ("customers", "products", "stores") if getattr(self.sizes, n) == 0]
            if empty:
                raise ConfigError(
                    f"transactions need at least one of each: {', '.join(empty)} is 0"
                )
        self._validate_schema()
        _check_email(self)
        return self

    def _validate_schema(self) -> None:
        where = self.origin("db_schema")
        if not _SCHEMA_NAME.match(self.db_schema):
            raise ConfigError(f"invalid database schema name {self.db_schema!r} ({where})")
        if _SYSTEM_SCHEMA.match(self.db_schema):
            raise ConfigError(
                f"{where} {self.db_schema!r} is a PostgreSQL system schema: choose a schema "
                "of your own"
            )

    def check_folders(self) -> None:
        """Refuse a work folder or outbox that cannot be created or written (both are
        needed: a report that cannot be delivered is saved to the outbox)."""
        for name, what in (("work_dir", "work folder"), ("outbox_dir", "outbox")):
            folder: Path = getattr(self, name)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=folder) as probe:
                    probe.write(b"\0")
                    probe.flush()
            except OSError as exc:
                raise ConfigError(
                    f"cannot write to the {what} {folder} ({self.origin(name)}): "
                    f"{exc.strerror or exc}"
                ) from None

    def check_business_date(self, day: dt.date) -> dt.date:
        """The day, if this dataset can have it: within [history start, LAST_DATE], and
        not bigger, after the calendar's growth, than MAX_ROWS."""
        if day < self.history_start:
            raise ConfigError(
                f"business date {day} is before the history start {self.history_start}"
            )
        if day > LAST_DATE:
            raise ConfigError(f"business date {day} is after the last supported date {LAST_DATE}")
        from customer_pipeline.generate.calendar import customers_through, transaction_count

        for name, rows in (
            ("transactions", transaction_count(self, day)),
            ("customers", customers_through(self, day)),
        ):
            if rows > MAX_ROWS:
                raise ConfigError(
                    f"{self.origin(name)} {self.value(name):,} grows to {rows:,} {name} by "
                    f"{day}, more than the limit of {MAX_ROWS:,}"
                )
        return day


def _check_email(self: Settings) -> None:
    """The delivery settings hang together (addresses, backend, key, TLS)."""
    if not self.email_to:
        raise ConfigError("no email recipient: set EMAIL_TO or pass --to")
    sender = self.sender[1]
    for address in self.email_to:
        check_address(address)
    if self.email_backend != "outbox":
        placeholders = {PLACEHOLDER_FROM, *PLACEHOLDER_TO} & {sender, *self.email_to}
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
    if self.smtp_ssl and self.smtp_starttls:
        raise ConfigError("choose one of SMTP_SSL (implicit TLS) and SMTP_STARTTLS, not both")
    if self.sendgrid_host and not re.match(r"^https?://[^/\s]+", self.sendgrid_host):
        raise ConfigError(
            f"invalid SENDGRID_HOST {self.sendgrid_host!r}: expected http(s)://host[:port]"
        )
