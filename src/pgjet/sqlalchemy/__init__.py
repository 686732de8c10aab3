"""SQLAlchemy 2 dialect: ``create_async_engine("postgresql+pgjet://user@host/db")``.

Installing pgjet registers it as the ``postgresql.pgjet`` entry point of
``sqlalchemy.dialects``; importing this package registers it too (for a source
checkout that is not installed). See docs/sqlalchemy.md.
"""

from sqlalchemy.dialects import registry as _registry

from pgjet.sqlalchemy.dialect import PGDialect_pgjet, dialect

_registry.register("postgresql.pgjet", "pgjet.sqlalchemy", "dialect")

__all__ = ["PGDialect_pgjet", "dialect"]
