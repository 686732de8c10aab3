"""asyncpg's COPY methods (copy_to_table, copy_records_to_table, copy_from_*),
built on the streaming primitives of :mod:`pgjet.copy`.

Sources and outputs are consumed and produced batch by batch, so memory does
not grow with the size of the data.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pgjet import errors
from pgjet._copy_sql import copy_options, copy_table, substitute_params
from pgjet.copy import BATCH_BYTES, CopyIn, CopyOut

if TYPE_CHECKING:
    from pgjet.connection import Connection

# The file-reading chunk for sources given as paths or file objects.
_READ_CHUNK = BATCH_BYTES


def _where(where: str | None) -> str:
    if where is None:
        return ""
    if not isinstance(where, str) or not where.strip():
        raise errors.InterfaceError("where must be a non-empty SQL condition")
    return f" WHERE {where}"


async def copy_records_to_table(
    conn: Connection,
    table: str,
    *,
    records: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
    columns: Sequence[str] | None,
    schema_name: str | None,
    timeout: float | None,
    where: str | None,
) -> str:
    sql = f"{copy_table(table, schema_name, columns)} FROM STDIN (FORMAT binary){_where(where)}"
    copy = CopyIn(conn, sql, rows=True, timeout=timeout)
    async with copy:
        await copy.write_rows(records)
    return copy.status or ""


async def copy_to_table(
    conn: Connection,
    table: str,
    *,
    source: Any,
    columns: Sequence[str] | None,
    schema_name: str | None,
    timeout: float | None,
    where: str | None,
    **options: Any,
) -> str:
    target = copy_table(table, schema_name, columns)
    sql = f"{target} FROM STDIN{copy_options(**options)}{_where(where)}"
    copy = CopyIn(conn, sql, rows=False, timeout=timeout)
    async with copy:
        async for chunk in _read_source(source):
            await copy.write(chunk)
    return copy.status or ""


async def copy_from_table(
    conn: Connection,
    table: str,
    *,
    output: Any,
    columns: Sequence[str] | None,
    schema_name: str | None,
    timeout: float | None,
    **options: Any,
) -> str:
    sql = f"{copy_table(table, schema_name, columns)} TO STDOUT{copy_options(**options)}"
    return await _copy_out(conn, sql, output, timeout)


async def copy_from_query(
    conn: Connection,
    query: str,
    args: Sequence[Any],
    *,
    output: Any,
    timeout: float | None,
    **options: Any,
) -> str:
    if args:
        query = await _inline_args(conn, query, args, timeout)
    sql = f"COPY ({query}) TO STDOUT{copy_options(**options)}"
    return await _copy_out(conn, sql, output, timeout)


async def _inline_args(
    conn: Connection, query: str, args: Sequence[Any], timeout: float | None
) -> str:
    """COPY takes no parameters: turn the arguments into typed SQL literals.

    The server does the quoting (of each value as its parameter's type), so
    the result is exactly what a bound parameter would have meant.
    """
    engine = conn._engine
    state = await engine.prepare(query, conn._record_class, timeout, named=False)
    oids = list(state.param_oids)
    if len(oids) != len(args):
        raise errors.InterfaceError(
            f"the query has {len(oids)} parameters, {len(args)} arguments were passed"
        )
    names = await conn.fetch(
        "SELECT pg_catalog.format_type(t, NULL) FROM unnest($1::oid[]) WITH ORDINALITY u(t, i)"
        " ORDER BY i",
        oids,
        timeout=timeout,
    )
    types = [r[0] for r in names]
    select = ", ".join(
        f"pg_catalog.quote_nullable(${n}::{t}::text) || '::{t}'" for n, t in enumerate(types, 1)
    )
    row = await conn.fetchrow(f"SELECT {select}", *args, timeout=timeout)
    assert row is not None
    return substitute_params(query, [str(v) for v in row])


# -- sources ------------------------------------------------------------------------------


def _is_path(value: Any) -> bool:
    return isinstance(value, str) or hasattr(value, "__fspath__")


async def _read_source(source: Any) -> AsyncIterable[bytes | bytearray | memoryview | str]:
    loop = asyncio.get_running_loop()
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), _READ_CHUNK):
            yield view[start : start + _READ_CHUNK]
        return
    if _is_path(source):
        f = await loop.run_in_executor(None, open, os.fspath(source), "rb")
        try:
            while chunk := await loop.run_in_executor(None, f.read, _READ_CHUNK):
                yield chunk
        finally:
            await loop.run_in_executor(None, f.close)
        return
    read = getattr(source, "read", None)
    if read is not None:
        if inspect.iscoroutinefunction(read):
            while chunk := await read(_READ_CHUNK):
                yield chunk
        else:
            while chunk := await loop.run_in_executor(None, read, _READ_CHUNK):
                yield chunk
        return
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
        return
    if isinstance(source, Iterable):
        for chunk in source:
            yield chunk
        return
    raise errors.InterfaceError(
        "source must be bytes, a path, a file object (sync or async read()), or an "
        f"(async) iterable of bytes, not {type(source).__name__}"
    )


# -- outputs ----------------------------------------------------------------------------


async def _copy_out(conn: Connection, sql: str, output: Any, timeout: float | None) -> str:
    loop = asyncio.get_running_loop()
    writer: Callable[[bytes], Awaitable[Any]]
    opened = None
    if _is_path(output):
        opened = await loop.run_in_executor(None, open, os.fspath(output), "wb")
        file = opened

        async def writer(data: bytes) -> None:
            await loop.run_in_executor(None, file.write, data)

    elif hasattr(output, "write"):
        write = output.write
        if inspect.iscoroutinefunction(write):
            writer = write
        else:

            async def writer(data: bytes) -> None:
                await loop.run_in_executor(None, write, data)

    elif callable(output):

        async def writer(data: bytes) -> None:
            result = output(data)
            if inspect.isawaitable(result):
                await result

    else:
        raise errors.InterfaceError(
            "output must be a path, a file object, or a (async) callable taking bytes, "
            f"not {type(output).__name__}"
        )
    copy = CopyOut(conn, sql, rows=False, timeout=timeout)
    try:
        async with copy:
            async for chunk in copy:
                await writer(chunk)
    finally:
        if opened is not None:
            await loop.run_in_executor(None, opened.close)
    return copy.status or ""
