"""``asyncpg.transaction`` on pgjet."""

from pgjet.transaction import ISOLATION_LEVELS as _PGJET_LEVELS
from pgjet.transaction import Transaction, TransactionState

# asyncpg's shapes: the accepted names, and SHOW transaction_isolation's answers to them.
ISOLATION_LEVELS = set(_PGJET_LEVELS)
ISOLATION_LEVELS_BY_VALUE = {sql.lower(): name for name, sql in _PGJET_LEVELS.items()}

__all__ = ["ISOLATION_LEVELS", "ISOLATION_LEVELS_BY_VALUE", "Transaction", "TransactionState"]
