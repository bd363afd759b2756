"""Exceptions that the CLI and the DAG turn into one clear line."""

import signal


class PipelineError(Exception):
    """Base class: an error whose message is meant for the user, on one line."""


class ConfigError(PipelineError, ValueError):
    """Bad input: a setting, a date, a size, an address. Never worth retrying."""


class DatabaseUnavailable(PipelineError):
    """The database could not be reached."""


class ConnectionLost(DatabaseUnavailable):
    """The connection to the database broke while in use (server stopped, network lost)."""


class QualityError(PipelineError):
    """Loaded data failed a data-quality check of severity error; `details`: each failed
    check with its figures (what the incident e-mail lists)."""

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details


class DeliveryError(PipelineError):
    """The report could not be delivered by the configured email backend."""


class DeliveryRefused(DeliveryError):
    """The mail service refused the credentials or the message: retrying cannot help."""


class Stopped(SystemExit):
    """A signal (SIGTERM, SIGINT) stopped the run. Raised in the main thread, it unwinds the
    run like any failure, so that every step cleans up; its exit status is 128 + the
    signal's number, as a shell reports a process that the signal ended."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal = signal.Signals(signum)

    def __str__(self) -> str:
        return f"stopped by {self.signal.name}"
