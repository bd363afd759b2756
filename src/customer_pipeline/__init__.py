"""customer-pipeline: synthetic retail data -> PostgreSQL -> KPIs -> emailed daily report.

The library is a set of plain step functions, one module per step (see
:mod:`customer_pipeline.pipeline`, which runs them in order); the Airflow DAG and the
``customer-pipeline`` CLI are thin adapters over them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("customer-pipeline")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
