"""asyncpg's shortcuts on the pool: acquire, run one call, release."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    from pgjet.pool._acquire import PoolAcquireContext


class PoolShortcuts:
    """``pool.fetch(...)`` is ``async with pool.acquire() as con: return await con.fetch(...)``."""

    __slots__ = ()

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        raise NotImplementedError

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        async with self.acquire() as con:
            return await con.execute(query, *args, timeout=timeout)

    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None:
        async with self.acquire() as con:
            await con.executemany(command, args, timeout=timeout)

    async def fetch(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> list[Any]:
        async with self.acquire() as con:
            return await con.fetch(query, *args, timeout=timeout, record_class=record_class)

    async def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None
    ) -> Any:
        async with self.acquire() as con:
            return await con.fetchrow(query, *args, timeout=timeout, record_class=record_class)

    async def fetchval(
        self, query: str, *args: Any, column: int | str = 0, timeout: float | None = None
    ) -> Any:
        async with self.acquire() as con:
            return await con.fetchval(query, *args, column=column, timeout=timeout)

    async def fetch_columns(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> dict[str, list[Any]]:
        async with self.acquire() as con:
            columns: dict[str, list[Any]] = await con.fetch_columns(query, *args, timeout=timeout)
            return columns

    async def fetch_numpy(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> dict[str, npt.NDArray[Any]]:
        async with self.acquire() as con:
            arrays: dict[str, npt.NDArray[Any]] = await con.fetch_numpy(
                query, *args, timeout=timeout
            )
            return arrays

    async def fetchmany(
        self,
        query: str,
        args: Iterable[Sequence[Any]],
        *,
        timeout: float | None = None,
        record_class: Any = None,
    ) -> list[Any]:
        async with self.acquire() as con:
            return await con.fetchmany(query, args, timeout=timeout, record_class=record_class)

    async def copy_from_table(self, table_name: str, **kwargs: Any) -> Any:
        async with self.acquire() as con:
            return await con.copy_from_table(table_name, **kwargs)

    async def copy_from_query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        async with self.acquire() as con:
            return await con.copy_from_query(query, *args, **kwargs)

    async def copy_to_table(self, table_name: str, **kwargs: Any) -> Any:
        async with self.acquire() as con:
            return await con.copy_to_table(table_name, **kwargs)

    async def copy_records_to_table(self, table_name: str, **kwargs: Any) -> Any:
        async with self.acquire() as con:
            return await con.copy_records_to_table(table_name, **kwargs)
