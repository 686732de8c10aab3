"""The connection pool: ``pgjet.create_pool`` (asyncpg's API, psycopg_pool's lifecycle).

See docs/pool.md. The public names are re-exported from :mod:`pgjet`.
"""

from pgjet.pool._errors import (
    PoolClosedError,
    PoolError,
    PoolForkedError,
    PoolTimeout,
    TooManyWaitersError,
)
from pgjet.pool._lease import PoolConnectionProxy
from pgjet.pool._pool import Pool, PoolAcquireContext, create_pool

__all__ = [
    "Pool",
    "PoolAcquireContext",
    "PoolClosedError",
    "PoolConnectionProxy",
    "PoolError",
    "PoolForkedError",
    "PoolTimeout",
    "TooManyWaitersError",
    "create_pool",
]
