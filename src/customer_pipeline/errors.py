"""Exceptions that the CLI and the DAG turn into one clear line."""


class PipelineError(Exception):
    """Base class: an error whose message is meant for the user, on one line."""


class ConfigError(PipelineError, ValueError):
    """Bad input: a setting, a date, a size, an address. Never worth retrying."""


class DatabaseUnavailable(PipelineError):
    """The database could not be reached."""


class QualityError(PipelineError):
    """Loaded data failed a data-quality check."""


class DeliveryError(PipelineError):
    """The report could not be delivered by the configured email backend."""


class DeliveryRefused(DeliveryError):
    """The mail service refused the credentials or the message: retrying cannot help."""
