"""The ``postgresql+pgjet`` dialect: SQLAlchemy's PostgreSQL dialect over pgjet."""

from __future__ import annotations

import importlib
import json
import re
import time
from typing import Any

from sqlalchemy import exc, util
from sqlalchemy.dialects.postgresql.base import (
    PGCompiler,
    PGDialect,
    PGExecutionContext,
    PGIdentifierPreparer,
)
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_

from pgjet import errors
from pgjet.sqlalchemy import adapter, dbapi
from pgjet.sqlalchemy.types import COLSPECS

# A statement (of a textual script) that changes the schema: CREATE, ALTER, DROP...
_TEXTUAL_DDL = re.compile(
    r"(?:^|;)\s*(?:CREATE|ALTER|DROP|TRUNCATE|COMMENT|GRANT|REVOKE|REINDEX)\b", re.I
)


class PGExecutionContext_pgjet(PGExecutionContext):
    dialect: PGDialect_pgjet

    def handle_dbapi_exception(self, e: BaseException) -> None:
        # A statement the server no longer recognises (a type dropped and
        # created again): every connection re-reads its types.
        orig = getattr(e, "orig", None)
        if isinstance(orig, (errors.InvalidCachedStatementError, errors.InternalServerError)):
            self.dialect.schema_changed()

    def pre_exec(self) -> None:
        # DDL constructs, and DDL sent as text (exec_driver_sql): types and
        # cached statements of every connection may be stale after it.
        ddl = self.isddl or (
            self.compiled is None
            and isinstance(self.statement, str)
            and _TEXTUAL_DDL.search(self.statement) is not None
        )
        if ddl:
            self.dialect.schema_changed()
        cursor = self.cursor
        if isinstance(cursor, adapter.Cursor):
            cursor._schema_asof = self.dialect.schema_changed_at
            cursor.use_simple_protocol = ddl

    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor(server_side=True)


class PGCompiler_pgjet(PGCompiler):
    pass


class PGIdentifierPreparer_pgjet(PGIdentifierPreparer):
    pass


class PGDialect_pgjet(PGDialect):
    driver = "pgjet"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    has_terminate = True

    # SQLAlchemy writes $1, $2 ... itself: nothing to rewrite per statement.
    default_paramstyle = "numeric_dollar"
    render_bind_cast = True
    # pgjet's executemany() pipelines all rows under one Sync and reports no count.
    supports_sane_multi_rowcount = False

    # SQLAlchemy serializes JSON parameters to str (pgjet sends str as is);
    # pgjet decodes results with the dialect's deserializer (json_loads).
    supports_native_json_serialization = False
    supports_native_json_deserialization = True
    dialect_injects_custom_json_deserializer = True

    execution_ctx_cls = PGExecutionContext_pgjet
    statement_compiler = PGCompiler_pgjet
    preparer = PGIdentifierPreparer_pgjet
    colspecs = util.update_copy(PGDialect.colspecs, COLSPECS)

    # When DDL last ran through this dialect (any connection): see adapter.check_schema.
    schema_changed_at = 0.0

    def schema_changed(self) -> None:
        self.schema_changed_at = time.time()

    @classmethod
    def load_provisioning(cls) -> None:
        # SQLAlchemy's test suite: PostgreSQL's own provisioning hooks apply.
        importlib.import_module("sqlalchemy.dialects.postgresql.provision")

    @classmethod
    def import_dbapi(cls) -> Any:
        import pgjet

        return dbapi.PgjetDBAPI(pgjet)

    def retrieve_dbapi_version(self, dbapi_module: Any) -> Any:
        import pgjet

        return util.parse_version_string(pgjet.__version__.split(".dev")[0])

    # -- connecting ----------------------------------------------------------------------

    def create_connect_args(self, url: URL) -> Any:
        """URL parts and query options become ``pgjet.connect`` keyword arguments."""
        opts: dict[str, Any] = url.translate_connect_args(username="user", database="database")
        hosts, ports = self._split_multihost_from_url(url)
        opts.update(url.query)
        if hosts:
            if len(hosts) == 1:
                opts["host"] = hosts[0]
                if ports and ports[0] is not None:
                    opts["port"] = ports[0]
            else:
                # pgjet takes libpq's comma-separated lists (a missing port: 5432).
                opts["host"] = ",".join(h or "" for h in hosts)
                opts["port"] = ",".join(str(p) if p is not None else "5432" for p in ports or ())
        else:
            util.coerce_kw_type(opts, "port", int)
        for name in ("statement_cache_size", "max_cacheable_statement_size"):
            util.coerce_kw_type(opts, name, int)
        for name in ("command_timeout", "timeout", "connect_timeout"):
            util.coerce_kw_type(opts, name, float)
        return ([], opts)

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        if "json_loads" not in cparams:
            cparams["json_loads"] = self._json_deserializer or json.loads
        return super().connect(*cargs, **cparams)

    def on_connect(self) -> Any:
        inherited = super().on_connect()
        paramstyle = self.paramstyle
        native_inet = self._native_inet_types

        def setup(conn: adapter.AdaptedConnection) -> None:
            conn.paramstyle = paramstyle
            if native_inet is False:
                # inet/cidr as str instead of ipaddress objects.
                for name in ("inet", "cidr"):
                    await_(
                        conn._connection.set_type_codec(
                            name, schema="pg_catalog", encoder=str, decoder=str, format="text"
                        )
                    )
            if inherited is not None:
                inherited(conn)

        return setup

    def get_driver_connection(self, connection: Any) -> Any:
        return connection._connection

    # -- isolation, characteristics, liveness ----------------------------------------------

    @util.memoized_property
    def _isolation_lookup(self) -> dict[str, str]:
        return {
            "AUTOCOMMIT": "autocommit",
            "READ COMMITTED": "read_committed",
            "READ UNCOMMITTED": "read_uncommitted",
            "REPEATABLE READ": "repeatable_read",
            "SERIALIZABLE": "serializable",
        }

    def get_isolation_level_values(self, dbapi_connection: Any) -> Any:
        return list(self._isolation_lookup)

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        try:
            value = self._isolation_lookup[level]
        except KeyError:
            raise exc.ArgumentError(
                f"Invalid value {level!r} for isolation_level. Valid isolation levels for "
                f"{self.name} are {', '.join(self._isolation_lookup)}"
            ) from None
        dbapi_connection.set_isolation_level(value)

    def detect_autocommit_setting(self, dbapi_conn: Any) -> bool:
        return bool(dbapi_conn.autocommit)

    def set_readonly(self, connection: Any, value: bool) -> None:
        connection.readonly = value

    def get_readonly(self, connection: Any) -> bool:
        return bool(connection.readonly)

    def set_deferrable(self, connection: Any, value: bool) -> None:
        connection.deferrable = value

    def get_deferrable(self, connection: Any) -> bool:
        return bool(connection.deferrable)

    def do_ping(self, dbapi_connection: Any) -> bool:
        dbapi_connection.ping()
        return True

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.terminate()

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        if connection is not None and connection._connection.is_closed():
            return True
        orig = getattr(e, "orig", None) or e
        if isinstance(
            orig,
            (
                errors.PostgresConnectionError,  # 08xxx, ConnectionDoesNotExistError
                errors.AdminShutdownError,
                errors.CrashShutdownError,
                errors.CannotConnectNowError,
                ConnectionError,
            ),
        ):
            return True
        return isinstance(orig, errors.InterfaceError) and "connection is closed" in str(orig)


dialect = PGDialect_pgjet
