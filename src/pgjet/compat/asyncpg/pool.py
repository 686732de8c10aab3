"""``asyncpg.pool`` on pgjet."""

from pgjet.pool import Pool, PoolAcquireContext, PoolConnectionProxy, create_pool

__all__ = ["Pool", "PoolAcquireContext", "PoolConnectionProxy", "create_pool"]
