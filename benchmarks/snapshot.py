"""A frozen copy of pgjet for one run, so that edits to the checkout mid-run (other people
work in it) cannot mix two versions of pgjet into one table.

``worktree``: copy ``src/pgjet`` as it is, compiled modules included (build first).
A git ref (``HEAD``, a commit): export that commit's sources with ``git archive`` and
build them in the copy. Every measurement process imports pgjet from the copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

_PROBE = """
import json, pgjet
conn = pgjet.Connection
print(json.dumps({
    "file": pgjet.__file__,
    "version": pgjet.__version__,
    "has_set_type_codec": hasattr(conn, "set_type_codec"),
}))
"""


class PgjetSnapshot:
    """pgjet frozen in a temporary directory; ``src`` goes first on children's PYTHONPATH."""

    def __init__(self, source: str = "worktree") -> None:
        self.source = source
        self._tmp = tempfile.TemporaryDirectory(prefix="pgjet-bench-src-")
        self.root = Path(self._tmp.name)
        self.src = self.root / "src"
        if source == "worktree":
            shutil.copytree(
                REPO / "src" / "pgjet",
                self.src / "pgjet",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            self.commit = _git("rev-parse", "--short", "HEAD")
            self.dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "src"))
        else:
            self._export_and_build(source)
            self.commit = _git("rev-parse", "--short", source)
            self.dirty = False
        self.tree_sha256 = _tree_hash(self.src / "pgjet")
        self.info = self.probe()

    def _export_and_build(self, ref: str) -> None:
        archive = subprocess.run(
            [
                "git",
                "archive",
                "--format=tar",
                ref,
                "setup.py",
                "pyproject.toml",
                "README.md",
                "src/pgjet",
            ],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode(errors='replace')}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                tar.extractall(self.root, filter="data")
            else:
                tar.extractall(self.root)
        build = subprocess.run(
            [sys.executable, "setup.py", "build_ext", "--inplace"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode != 0:
            raise SystemExit(f"building pgjet at {ref} failed:\n{build.stderr[-3000:]}")

    def env(self, *extra: Path) -> dict[str, str]:
        """Environment for a child process: the snapshot, then ``extra``, then PYTHONPATH."""
        paths = [str(self.src), *(str(p) for p in extra)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

    def probe(self) -> dict[str, Any]:
        """Import the snapshot in a fresh process: it must load, and from the copy."""
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"pgjet ({self.source}) does not import; build it first "
                f"(python setup.py build_ext --inplace):\n{done.stderr[-3000:]}"
            )
        info: dict[str, Any] = json.loads(done.stdout)
        if not Path(info["file"]).resolve().is_relative_to(self.root.resolve()):
            raise SystemExit(f"pgjet was imported from {info['file']}, not from the snapshot")
        return info

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "commit": self.commit,
            "uncommitted_changes": self.dirty,
            "tree_sha256": self.tree_sha256,
            "version": self.info["version"],
        }

    def close(self) -> None:
        self._tmp.cleanup()


def _tree_hash(directory: Path) -> str:
    """One hash over every file's path and bytes: names the exact pgjet measured."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
