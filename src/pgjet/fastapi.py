"""FastAPI / Starlette integration: a pool per application, connections per request.

::

    from fastapi import FastAPI
    from pgjet.fastapi import ConnectionDep, pool_lifespan, health_endpoint

    app = FastAPI(lifespan=pool_lifespan(DSN, min_size=2, warm_up_query="SELECT 1"))
    app.add_api_route("/health", health_endpoint(timeout=2.0))

    @app.get("/users/{user_id}")
    async def user(user_id: int, conn: ConnectionDep) -> dict:
        return dict(await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id))

Only this module imports FastAPI: pgjet itself does not depend on it. See docs/fastapi.md.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from pgjet.pool import Pool, PoolConnectionProxy, create_pool

__all__ = [
    "POOL_STATE_KEY",
    "ConnectionDep",
    "PoolDep",
    "TransactionDep",
    "database_status",
    "get_connection",
    "get_pool",
    "get_transaction",
    "health_endpoint",
    "open_pool",
    "pool_lifespan",
]

#: Where the lifespan puts the pool: in the lifespan state and on ``app.state``.
POOL_STATE_KEY = "pgjet_pool"


# -- opening and closing the pool -----------------------------------------------------


@asynccontextmanager
async def open_pool(
    dsn: str | None = None,
    *,
    on_open: Callable[[Pool], Awaitable[None]] | None = None,
    warm_up_query: str | None = None,
    wait_timeout: float = 30.0,
    close_timeout: float | None = 10.0,
    **pool_kwargs: Any,
) -> AsyncIterator[Pool]:
    """Open a pool with ``min_size`` connections proven, optionally warmed; close it on exit.

    Then ``on_open(pool)`` runs (create tables, check the schema...). Then
    ``warm_up_query`` (one statement, no arguments) runs once on each of the
    ``min_size`` connections, all held at once so that each gets it: the first
    requests find it prepared and its types read. ``pool_kwargs`` are
    :func:`pgjet.create_pool`'s. On exit the pool waits ``close_timeout`` seconds
    for leased connections, then terminates them.
    """
    if wait_timeout <= 0:
        raise ValueError(f"wait_timeout must be positive, got {wait_timeout!r}")
    pool = await create_pool(dsn, **pool_kwargs)  # raises the first connection error
    try:
        await pool.wait(timeout=wait_timeout)
        if on_open is not None:
            await on_open(pool)
        if warm_up_query is not None:
            await _warm(pool, warm_up_query, pool.get_min_size(), wait_timeout)
    except BaseException:
        pool.terminate()
        raise
    try:
        yield pool
    finally:
        await pool.close(timeout=close_timeout)


async def _warm(pool: Pool, query: str, count: int, timeout: float) -> None:
    leases: list[PoolConnectionProxy] = []
    try:
        for _ in range(count):
            leases.append(await pool.acquire(timeout=timeout))
        # fetch(), not execute(): the extended protocol prepares and caches the statement.
        await asyncio.gather(*(lease.fetch(query, timeout=timeout) for lease in leases))
    finally:
        for lease in leases:
            await pool.release(lease)


def pool_lifespan(
    dsn: str | None = None,
    *,
    on_open: Callable[[Pool], Awaitable[None]] | None = None,
    warm_up_query: str | None = None,
    wait_timeout: float = 30.0,
    close_timeout: float | None = 10.0,
    **pool_kwargs: Any,
) -> Callable[[Starlette], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan for ``FastAPI(lifespan=...)`` / ``Starlette(lifespan=...)`` owning a pool.

    At start-up it runs :func:`open_pool` (same arguments) and publishes the pool under
    :data:`POOL_STATE_KEY` in the lifespan state and on ``app.state``. At shutdown
    it closes the pool. A start-up failure fails the application's start.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_pool(
            dsn,
            on_open=on_open,
            warm_up_query=warm_up_query,
            wait_timeout=wait_timeout,
            close_timeout=close_timeout,
            **pool_kwargs,
        ) as pool:
            setattr(app.state, POOL_STATE_KEY, pool)
            try:
                yield {POOL_STATE_KEY: pool}
            finally:
                if getattr(app.state, POOL_STATE_KEY, None) is pool:
                    delattr(app.state, POOL_STATE_KEY)

    return lifespan


# -- dependencies -----------------------------------------------------------------------


def get_pool(request: HTTPConnection) -> Pool:
    """The application's pool (a dependency; works for HTTP and WebSocket routes)."""
    # The lifespan state reaches mounted sub-applications too; app.state covers
    # servers and test clients that do not pass lifespan state along.
    pool = getattr(request.state, POOL_STATE_KEY, None)
    if pool is None:
        pool = getattr(request.app.state, POOL_STATE_KEY, None)
    if not isinstance(pool, Pool):
        raise RuntimeError(
            f"no pgjet pool for this application: pass lifespan=pgjet.fastapi.pool_lifespan(...) "
            f"to FastAPI(), or set app.state.{POOL_STATE_KEY} to a pgjet Pool"
        )
    return pool


async def get_connection(request: HTTPConnection) -> AsyncIterator[PoolConnectionProxy]:
    """A connection leased for the request; released afterwards, also when it fails."""
    async with get_pool(request).acquire() as conn:
        yield conn


async def get_transaction(request: HTTPConnection) -> AsyncIterator[PoolConnectionProxy]:
    """A connection inside a transaction: committed when the endpoint returns,
    rolled back when it raises (an ``HTTPException`` included)."""
    async with get_pool(request).acquire() as conn, conn.transaction():
        yield conn


# End the lease (and commit) before the response is sent, so that a failing COMMIT
# becomes an error response instead of a success the client already received.
# FastAPI < 0.121 has no `scope`; it then uses its own default.
_BEFORE_RESPONSE: dict[str, Any] = (
    {"scope": "function"} if "scope" in inspect.signature(Depends).parameters else {}
)

PoolDep = Annotated[Pool, Depends(get_pool)]
ConnectionDep = Annotated[PoolConnectionProxy, Depends(get_connection, **_BEFORE_RESPONSE)]
TransactionDep = Annotated[PoolConnectionProxy, Depends(get_transaction, **_BEFORE_RESPONSE)]


# -- health -------------------------------------------------------------------------------


async def database_status(pool: Pool, *, timeout: float = 2.0) -> dict[str, Any]:
    """``SELECT 1`` through the pool within `timeout` seconds, as a status dict.

    ``{"status": "ok", "latency_ms": ..., "pool": {...}}`` when it answers, else
    ``{"status": "unavailable", "error": "...", "pool": {...}}``; never raises for a
    database failure, so it is usable from any health framework.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    started = time.monotonic()
    status: dict[str, Any]
    try:
        value = await asyncio.wait_for(_select_one(pool, timeout), timeout)
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        status = {"status": "unavailable", "error": f"no answer within {timeout:g}s"}
    except Exception as exc:  # any failure of the database is a status, not a crash
        status = {"status": "unavailable", "error": f"{type(exc).__name__}: {exc}"}
    else:
        if value == 1:
            status = {"status": "ok"}
        else:
            status = {"status": "unavailable", "error": f"SELECT 1 returned {value!r}"}
    status["latency_ms"] = round((time.monotonic() - started) * 1000, 3)
    status["pool"] = {
        "size": pool.get_size(),
        "idle": pool.get_idle_size(),
        "min_size": pool.get_min_size(),
        "max_size": pool.get_max_size(),
    }
    return status


async def _select_one(pool: Pool, timeout: float) -> Any:
    async with pool.acquire(timeout=timeout) as conn:
        return await conn.fetchval("SELECT 1", timeout=timeout)


def health_endpoint(
    *, timeout: float = 2.0
) -> Callable[[HTTPConnection], Coroutine[Any, Any, dict[str, Any]]]:
    """An endpoint answering :func:`database_status`: 200 when up, 503 when not.

    ``app.add_api_route("/health", health_endpoint(timeout=1.0))``.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")

    async def health(request: HTTPConnection) -> dict[str, Any]:
        status = await database_status(get_pool(request), timeout=timeout)
        if status["status"] != "ok":
            raise HTTPException(status_code=503, detail=status)
        return status

    return health
