"""The drivers compared, each behind ``run(driver, workload, dsn, sizes, options)``.

Only the driver being measured is imported into a measurement process.
"""

from __future__ import annotations

from typing import Any

from benchmarks.drivers.common import Sample, Unsupported, WrongResult
from benchmarks.workloads import Sizes

DRIVERS = ("pgjet", "asyncpg", "psycopg", "asyncpg-noreset")
"""In the order of the results table; asyncpg is the baseline of every ratio.

``asyncpg-noreset`` is asyncpg's pool with a no-op ``reset=`` (no reset query on
release): the strongest asyncpg pool configuration, measured on W4 only.
"""

BASELINE = "asyncpg"

__all__ = ["BASELINE", "DRIVERS", "Sample", "Unsupported", "WrongResult", "run"]


async def run(
    driver: str, workload: str, dsn: str, sizes: Sizes, options: dict[str, Any]
) -> Sample:
    if driver in ("pgjet", "asyncpg"):
        from benchmarks.drivers import asyncpg_api

        return await asyncpg_api.run(driver, workload, dsn, sizes, options)
    if driver == "asyncpg-noreset":
        if workload != "W4":
            raise Unsupported("only differs from asyncpg on the pool workload (W4)")
        from benchmarks.drivers import asyncpg_api

        options = {**options, "noop_reset": True}
        return await asyncpg_api.run("asyncpg", workload, dsn, sizes, options)
    if driver == "psycopg":
        from benchmarks.drivers import psycopg3

        return await psycopg3.run(workload, dsn, sizes, options)
    raise ValueError(f"unknown driver {driver!r}; choose from {', '.join(DRIVERS)}")
