"""The drivers compared, each behind ``run(driver, workload, dsn, sizes, options)``.

Only the driver being measured is imported into a measurement process.
"""

from __future__ import annotations

from typing import Any

from benchmarks.drivers.common import Sample, Unsupported, WrongResult
from benchmarks.workloads import Sizes

DRIVERS = ("pgjet", "asyncpg", "psycopg")
"""In the order of the results table; asyncpg is the baseline of every ratio."""

BASELINE = "asyncpg"

__all__ = ["BASELINE", "DRIVERS", "Sample", "Unsupported", "WrongResult", "run"]


async def run(
    driver: str, workload: str, dsn: str, sizes: Sizes, options: dict[str, Any]
) -> Sample:
    if driver in ("pgjet", "asyncpg"):
        from benchmarks.drivers import asyncpg_api

        return await asyncpg_api.run(driver, workload, dsn, sizes, options)
    if driver == "psycopg":
        from benchmarks.drivers import psycopg3

        return await psycopg3.run(workload, dsn, sizes, options)
    raise ValueError(f"unknown driver {driver!r}; choose from {', '.join(DRIVERS)}")
