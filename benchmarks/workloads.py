"""What each workload measures, at which size, and the tables it reads or writes.

Drivers implement the workloads in ``benchmarks/drivers/``; this module is the single
place that says what W1..W7 (and W3c: W3 fetched as columns) are, so every driver runs
the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str
    """What the throughput counts, per second."""
    note: str = ""
    """What a reader must know to compare the drivers' figures (a footnote of the table)."""


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload("W1", "SELECT $1::int, sequential, 1 connection", "queries/s"),
        Workload("W2", "fetch 1,000 rows x 10 mixed columns (jsonb parsed)", "fetches/s"),
        Workload("W3", "fetch 100k rows x (int, text, float8)", "rows/s"),
        Workload(
            "W3c",
            "fetch 100k rows x (int, text, float8) as columns",
            "rows/s",
            note="W3c: pgjet times fetch_numpy() (numpy arrays); asyncpg fetch() (Records: its "
            "fastest whole-result fetch); psycopg binary fetchall(), for reference",
        ),
        Workload("W4", "100 tasks, 10-connection pool, PK lookups", "queries/s"),
        Workload("W5", "executemany INSERT of 10k rows", "rows/s"),
        Workload("W6", "COPY 1M rows x (int, text, float8) in", "rows/s"),
        Workload("W7", "connect + close", "connects/s"),
    )
}


@dataclass(frozen=True)
class Sizes:
    """Sizes and time budgets of one run. ``full()`` is the published run, ``quick()``
    the CI smoke run (tiny sizes: it proves the harness works, its figures mean nothing)."""

    w1_seconds: float
    w2_rows: int
    w3_rows: int
    w4_tasks: int
    w4_pool: int
    w4_keys: int
    w4_seconds: float
    w5_rows: int
    w6_rows: int
    w7_seconds: float
    min_time: float
    """Fetch/insert workloads repeat until they have been timed for this long..."""
    min_reps: int
    """...and at least this many times; the rate is taken from the median repetition."""
    warmup_seconds: float
    pgbench_seconds: int
    """pgbench ``-T``; 0 means ``-t pgbench_transactions`` instead (quick mode)."""
    pgbench_transactions: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            w1_seconds=1.5,
            w2_rows=1_000,
            w3_rows=100_000,
            w4_tasks=100,
            w4_pool=10,
            w4_keys=10_000,
            w4_seconds=1.5,
            w5_rows=10_000,
            w6_rows=1_000_000,
            w7_seconds=1.0,
            min_time=1.0,
            min_reps=3,
            warmup_seconds=0.3,
            pgbench_seconds=2,
            pgbench_transactions=0,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            w1_seconds=0.05,
            w2_rows=50,
            w3_rows=500,
            w4_tasks=6,
            w4_pool=2,
            w4_keys=100,
            w4_seconds=0.05,
            w5_rows=100,
            w6_rows=500,
            w7_seconds=0.05,
            min_time=0.02,
            min_reps=1,
            warmup_seconds=0.01,
            pgbench_seconds=0,
            pgbench_transactions=50,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sizes:
        return cls(**data)


# -- SQL every driver runs (asyncpg-style $n placeholders; psycopg's driver converts) ----

W1_SQL = "SELECT $1::int"
W2_SQL = "SELECT * FROM bench_w2"
W3_SQL = "SELECT a, b, c FROM bench_w3"
W4_SQL = "SELECT id, v FROM bench_kv WHERE id = $1"
W5_SQL = "INSERT INTO bench_w5 (a, b, c) VALUES ($1, $2, $3)"
W5_TABLE = "bench_w5"
W6_TABLE = "bench_w6"
COPY_COLUMNS = ("a", "b", "c")
COPY_TYPES = ("int4", "text", "float8")

W2_COLUMNS: tuple[tuple[str, str, type], ...] = (
    ("id", "int4", int),
    ("big", "int8", int),
    ("name", "text", str),
    ("score", "float8", float),
    ("active", "bool", bool),
    ("amount", "numeric(12,2)", decimal.Decimal),
    ("created", "timestamptz", datetime.datetime),
    ("day", "date", datetime.date),
    ("token", "uuid", uuid.UUID),
    ("doc", "jsonb", dict),
)
"""W2's columns: name, SQL type, the Python type every driver must return for it."""
W2_JSONB_INDEX = 9


def insert_rows(count: int) -> list[tuple[int, str, float]]:
    """Rows for W5 and W6, built before the clock starts."""
    return [(i, f"row-{i}", i * 0.25) for i in range(count)]


def type_mismatches(row: Any) -> list[str]:
    """How a decoded W2 row differs from the Python types every driver should return."""
    problems = []
    for (name, sql_type, expected), value in zip(W2_COLUMNS, tuple(row), strict=True):
        # Subclasses are fine (asyncpg's UUID subclasses uuid.UUID), except the two that
        # are different values: bool for int and datetime for date.
        wrong_subclass = (expected is int and isinstance(value, bool)) or (
            expected is datetime.date and isinstance(value, datetime.datetime)
        )
        if not isinstance(value, expected) or wrong_subclass:
            problems.append(f"{sql_type} ({name}) returned as {type(value).__name__}")
    return problems


W3_DTYPES = {"a": "int32", "b": "object", "c": "float64"}
"""W3c: the numpy dtype of each column of ``fetch_numpy(W3_SQL)``."""


def w3_column_problems(columns: dict[str, Any], expected_rows: int) -> list[str]:
    """How a columnar W3 result (``{name: numpy array}``) differs from bench_w3's rows:
    column names, lengths, dtypes and values (row i holds ``(i, 'row-' || i, i * 0.25)``)."""
    if list(columns) != list(W3_DTYPES):
        return [f"columns {list(columns)!r}, expected {list(W3_DTYPES)!r}"]
    problems = []
    for name, dtype in W3_DTYPES.items():
        array = columns[name]
        if len(array) != expected_rows:
            problems.append(f"{name}: {len(array)} values, expected {expected_rows}")
        if str(getattr(array, "dtype", None)) != dtype:
            problems.append(f"{name}: dtype {getattr(array, 'dtype', type(array).__name__)}")
        if hasattr(array, "mask"):
            problems.append(f"{name}: a masked array, but bench_w3 holds no NULL")
    if problems or expected_rows == 0:
        return problems
    a, b, c = columns["a"], columns["b"], columns["c"]
    n = expected_rows
    if (int(a.min()), int(a.max()), int(a.sum())) != (1, n, n * (n + 1) // 2):
        problems.append(f"a is not 1..{n}")
    for i in (0, expected_rows - 1):  # one value checked at each end
        key, text, number = int(a[i]), b[i], float(c[i])
        if text != f"row-{key}" or number != key * 0.25:
            problems.append(f"row {i} is ({key}, {text!r}, {number!r})")
    return problems


def setup_sql(sizes: Sizes) -> str:
    """Create and fill the tables of one run (run once, before any measurement)."""
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in W2_COLUMNS)
    return f"""
DROP TABLE IF EXISTS bench_w2, bench_w3, bench_kv, bench_w5, bench_w6;
CREATE TABLE bench_w2 ({columns});
INSERT INTO bench_w2
SELECT i, i::int8 * 1000003, 'name-' || i, i * 0.5, i % 2 = 0, (i * 1.25)::numeric(12,2),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute',
       date '2024-01-01' + i % 365, md5(i::text)::uuid,
       jsonb_build_object('id', i, 'tags', jsonb_build_array('a', 'b'), 'ok', true)
FROM generate_series(1, {sizes.w2_rows}) AS i;
CREATE TABLE bench_w3 (a int4, b text, c float8);
INSERT INTO bench_w3 SELECT i, 'row-' || i, i * 0.25 FROM generate_series(1, {sizes.w3_rows}) i;
CREATE TABLE bench_kv (id int4 PRIMARY KEY, v text NOT NULL);
INSERT INTO bench_kv SELECT i, 'v-' || i FROM generate_series(1, {sizes.w4_keys}) AS i;
-- Written tables are UNLOGGED: the server's WAL work is the same for every driver and
-- would only dilute the client-side differences being measured.
CREATE UNLOGGED TABLE bench_w5 (a int4, b text, c float8);
CREATE UNLOGGED TABLE bench_w6 (a int4, b text, c float8);
VACUUM ANALYZE bench_w2, bench_w3, bench_kv;
"""
