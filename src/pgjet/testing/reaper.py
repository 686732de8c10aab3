"""A watchdog that cleans up servers and directories when the test process dies.

The first cluster of a process spawns one watchdog (``python reaper.py``, in its own
session) whose stdin is the read end of a pipe. Only the test process holds the
write end, and tells the watchdog what to watch (one JSON object per line). When
the test process exits for any reason, SIGKILL included, the pipe reaches EOF and
the watchdog stops every server still registered (SIGQUIT, then SIGKILL) and
removes every directory still registered. Normal shutdown unregisters things
first, so then the watchdog has nothing left to do.

This file runs as a script with ``python -I -S``: stdlib only, no package imports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["Reaper", "get_reaper"]


# -- the watchdog side ---------------------------------------------------------------------


def _state_of(pid: int) -> str | None:
    """The process state letter, or None when the process is gone (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return "?"
        return "?"
    state = stat.rsplit(b")", 1)[-1].split()[0].decode()
    return None if state in ("Z", "X") else state


def _postmaster_pid(datadir: str) -> int | None:
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return None
    # Guard against pid reuse: a postmaster's working directory is its data directory.
    try:
        if os.path.realpath(os.readlink(f"/proc/{pid}/cwd")) != os.path.realpath(datadir):
            return None
    except OSError:
        if _state_of(pid) is None:
            return None
    return pid


def _pid_matches(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return _state_of(pid) is not None and not marker
    return marker in cmdline


def _terminate(pids: dict[int, int], grace: float) -> None:
    """Send each pid its first signal, wait up to ``grace`` seconds, then SIGKILL survivors."""
    for pid, sig in pids.items():
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
    deadline = time.monotonic() + grace
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _state_of(pid) is not None}
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def cleanup(entries: dict[str, dict[str, Any]]) -> None:
    """Stop every registered process and remove every registered directory."""
    pids: dict[int, int] = {}
    for entry in entries.values():
        if entry["kind"] == "pg":
            # Give a postmaster that was still starting a moment to write its pid file.
            pid = None
            for _ in range(20):
                pid = _postmaster_pid(entry["datadir"])
                if pid is not None or not os.path.isdir(entry["datadir"]):
                    break
                time.sleep(0.05)
            if pid is not None:
                pids[pid] = signal.SIGQUIT  # immediate shutdown, children included
        elif entry["kind"] == "pid" and _pid_matches(entry["pid"], entry.get("marker", "")):
            pids[entry["pid"]] = signal.SIGTERM
    _terminate(pids, grace=5.0)
    for entry in entries.values():
        if entry["kind"] == "dir":
            shutil.rmtree(entry["path"], ignore_errors=True)


def watch(stream: Any) -> None:
    """Read registrations from ``stream`` until EOF, then clean up what is left."""
    entries: dict[str, dict[str, Any]] = {}
    for line in stream:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("op") == "add":
            entries[message["key"]] = message
        elif message.get("op") == "forget":
            entries.pop(message["key"], None)
    cleanup(entries)


def main() -> None:
    # Terminal signals meant for the test run must not kill the watchdog before it works.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    watch(sys.stdin)


# -- the test process side -----------------------------------------------------------------


class Reaper:
    """Client of one watchdog process (use :func:`get_reaper`)."""

    def __init__(self) -> None:
        read_fd, self._write_fd = os.pipe()  # both non-inheritable (PEP 446)
        try:
            self.process = subprocess.Popen(
                [sys.executable or "python3", "-I", "-S", os.path.abspath(__file__)],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd="/",
            )
        finally:
            os.close(read_fd)
        self._lock = threading.Lock()

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        # Writes below PIPE_BUF are atomic; keep messages small (paths only).
        with self._lock:
            os.write(self._write_fd, data)

    def watch_postmaster(self, datadir: str | os.PathLike[str]) -> str:
        """Stop the postmaster of ``datadir`` if this process dies. Returns the key."""
        path = os.path.realpath(datadir)
        key = f"pg:{path}"
        self._send({"op": "add", "key": key, "kind": "pg", "datadir": path})
        return key

    def watch_pid(self, pid: int, marker: str) -> str:
        """Terminate ``pid`` (if its command line contains ``marker``) if this process dies."""
        key = f"pid:{pid}"
        self._send({"op": "add", "key": key, "kind": "pid", "pid": pid, "marker": marker})
        return key

    def watch_dir(self, path: str | os.PathLike[str]) -> str:
        """Remove ``path`` recursively if this process dies."""
        real = os.path.realpath(path)
        key = f"dir:{real}"
        self._send({"op": "add", "key": key, "kind": "dir", "path": real})
        return key

    def forget(self, key: str) -> None:
        """The caller cleaned up ``key`` itself."""
        self._send({"op": "forget", "key": key})


_reaper: Reaper | None = None
_reaper_pid = -1
_reaper_lock = threading.Lock()


def get_reaper() -> Reaper:
    """The watchdog of this process, started on first use (and anew in a forked child)."""
    global _reaper, _reaper_pid
    with _reaper_lock:
        if _reaper is None or _reaper_pid != os.getpid():
            _reaper = Reaper()
            _reaper_pid = os.getpid()
        return _reaper


if __name__ == "__main__":
    main()
