"""The type catalog: codecs for types that are not builtin, read from the server.

A statement whose parameters or columns have types the compiled codecs do not
know (enums, composites, domains, ranges, multiranges, extension types, arrays
of any of them) costs ONE catalog query for all of them and their
dependencies, before its first Bind. What that query returns is kept in a
:class:`TypeCatalog`: one per connection, or one per pool and server, shared
by the pool's connections, so N connections read each type once.

Codecs are built from the catalog per connection, because codec overrides
(``set_type_codec``) are per connection, as in asyncpg.

A composite type's binary values carry their attribute count and types: a
value that does not match the layout its codec was built from (``ALTER TYPE
... ADD ATTRIBUTE``) raises :class:`~pgjet._wire.codecs.OutdatedTypeError`
while decoding, and the engine drops the catalog instead of decoding with a
stale layout (see ``QueryEngine``).
"""

from __future__ import annotations

import asyncio
import decimal
import operator
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgjet import errors
from pgjet._wire import codecs as _codecs
from pgjet._wire.codecs import Codec, OutdatedTypeError, RecordFieldTypeUnknown
from pgjet.oids import BUILTIN_TYPES, MULTIRANGE_RANGES, RANGE_SUBTYPES
from pgjet.record import Record
from pgjet.types import DateTimeMapping

if TYPE_CHECKING:
    from pgjet._engine import QueryEngine
    from pgjet._wire.core import StatementState

__all__ = [
    "ConnectionTypes",
    "OutdatedTypeError",
    "RecordFieldTypeUnknown",
    "SharedTypeCatalogs",
    "TypeCatalog",
]

# oid -> (typname, typtype, typcategory, typelem, typdelim) of every builtin type.
_BUILTIN: dict[int, tuple[str, str, str, int, str]] = {
    row[0]: (row[1], row[2], row[3], row[5], row[7]) for row in BUILTIN_TYPES
}
_JSON_OID = 114
_JSONB_OID = 3802
_RECORD_OID = 2249
# Builtin arrays (and _record, a pseudo-type): their element's oid.
_ARRAY_ELEMENTS: dict[int, int] = {
    oid: elem
    for oid, (name, _t, category, elem, _d) in _BUILTIN.items()
    if elem and (category == "A" or name == "_record")
}
# Builtin types whose codecs never depend on a connection's settings.
_PLAIN_BUILTIN = frozenset(_BUILTIN) - {
    _RECORD_OID,
    *(oid for oid, elem in _ARRAY_ELEMENTS.items() if elem == _RECORD_OID),
}
# Builtin types whose binary form is their UTF-8 text: a 'text' codec can use it.
_TEXT_LIKE = frozenset((25, 1043, 1042, 19, 705, _JSON_OID, 142))
# Extension types with a stable binary form, found by name (their oids vary).
_EXTENSION_CODECS: dict[str, Callable[[int, str], Codec]] = {
    "citext": _codecs.make_text_codec,
    "hstore": _codecs.make_hstore_codec,
}

# One query for the wanted types and, recursively, every type they are built
# from: array elements, domain bases, composite attributes, range subtypes and
# the ranges of multiranges. $1 is the oid[] of the wanted types.
_CATALOG_SQL = """\
WITH RECURSIVE wanted(oid) AS (
    SELECT unnest($1::oid[])
  UNION
    SELECT dep.oid
    FROM wanted w
    JOIN pg_catalog.pg_type t ON t.oid = w.oid
    CROSS JOIN LATERAL (
        SELECT t.typelem WHERE t.typelem <> 0
      UNION ALL
        SELECT t.typbasetype WHERE t.typbasetype <> 0
      UNION ALL
        SELECT a.atttypid FROM pg_catalog.pg_attribute a
        WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid
          AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL
        SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
      {multirange_dependency}
    ) AS dep(oid)
)
SELECT t.oid, t.typname::text, n.nspname::text, t.typtype::text, t.typcategory::text,
       t.typelem, t.typbasetype, t.typdelim::text,
       COALESCE(r.rngsubtype, 0::oid), {multirange_range},
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid
               AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
       ARRAY(SELECT a.atttypid FROM pg_catalog.pg_attribute a
             WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid
               AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM wanted w
JOIN pg_catalog.pg_type t ON t.oid = w.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
{multirange_join}"""

# Multiranges exist since PostgreSQL 14.
_CATALOG_SQL_14 = _CATALOG_SQL.format(
    multirange_dependency=(
        "UNION ALL\n        SELECT m.rngtypid FROM pg_catalog.pg_range m"
        " WHERE m.rngmultitypid = t.oid"
    ),
    multirange_range="COALESCE(m.rngtypid, 0::oid)",
    multirange_join="LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid",
)
_CATALOG_SQL_OLD = _CATALOG_SQL.format(
    multirange_dependency="", multirange_range="0::oid", multirange_join=""
)

_TYPE_BY_NAME_SQL = """\
SELECT t.oid, t.typtype::text, t.typcategory::text, t.typelem
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = $1 AND n.nspname = $2"""

# The attributes of composite types now, to compare with what was read before:
# a renamed attribute changes nothing in the binary values.
_LAYOUT_SQL = """\
SELECT t.oid,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       ARRAY(SELECT a.atttypid FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum)
FROM pg_catalog.pg_type t
WHERE t.oid = ANY($1::oid[]) AND t.typrelid <> 0"""

# Our own queries decode with the builtin codecs only, whatever the user overrode.
_INTERNAL_QUERIES = frozenset((_CATALOG_SQL_14, _CATALOG_SQL_OLD, _TYPE_BY_NAME_SQL, _LAYOUT_SQL))


def _int_text(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"expected int, got {type(value).__name__}")
    return str(operator.index(value))


def _float_text(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"expected float, got {type(value).__name__}")
    return repr(float(value))


def _numeric_text(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = decimal.Decimal(value)
    if not isinstance(value, decimal.Decimal):
        raise TypeError(f"expected Decimal, int or float, got {type(value).__name__}")
    return str(value)


def _bool_text(value: Any) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"expected bool, got {type(value).__name__}")
    return "t" if value else "f"


def _uuid_text(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def _bytea_parse(text: str) -> bytes:
    if not text.startswith("\\x"):
        raise ValueError(f"expected bytea in hex format (bytea_output = 'hex'), got {text[:20]!r}")
    return bytes.fromhex(text[2:])


def _bytea_text(value: Any) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return "\\x" + bytes(value).hex()


# set_builtin_type_codec(format='text') with a codec whose text form is not
# plain text: (parse the server's output, format a value as its input).
_TEXT_PARSERS: dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid", "xid", "cid", "xid8"), (int, _int_text)),
    "float4": (float, _float_text),
    "float8": (float, _float_text),
    "numeric": (decimal.Decimal, _numeric_text),
    "bool": (lambda text: text == "t", _bool_text),
    "uuid": (uuid.UUID, _uuid_text),
    "bytea": (_bytea_parse, _bytea_text),
}

# Names asyncpg's set_builtin_type_codec() accepts besides typnames.
_SQL_NAMES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "real": "float4",
    "double precision": "float8",
    "boolean": "bool",
    "decimal": "numeric",
    "character varying": "varchar",
    "character": "bpchar",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time with time zone": "timetz",
    "time without time zone": "time",
}


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One pg_type row, with what its codec is built from."""

    oid: int
    name: str
    schema: str
    typtype: str  # b base, c composite, d domain, e enum, r range, m multirange, p pseudo
    category: str
    elem: int
    base: int
    delimiter: str
    range_subtype: int
    multirange_range: int
    attr_names: tuple[str, ...]
    attr_oids: tuple[int, ...]

    @property
    def is_array(self) -> bool:
        return self.typtype == "b" and self.category == "A" and self.elem != 0


class TypeCatalog:
    """Catalog rows of non-builtin types, read on demand; shareable between connections."""

    def __init__(self) -> None:
        self.infos: dict[int, TypeInfo] = {}
        # Bumped by every invalidation: codecs built from an older one are stale.
        self.generation = 0
        # Catalog queries issued (statistics, tests).
        self.queries = 0
        self._inflight: dict[int, asyncio.Future[None]] = {}

    def invalidate(self) -> None:
        """Forget every type (a layout changed): the next statements read them again."""
        self.infos = {}
        self.generation += 1

    async def load(
        self,
        engine: QueryEngine,
        oids: Iterable[int],
        timeout: float | None,
        *,
        multiranges: bool = True,
    ) -> None:
        """Make sure every type in `oids` (and all it depends on) is in `infos`.

        Types another connection is reading already are waited for, not read
        twice; if that read fails, this call reads them itself.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        wanted = set(oids)
        while True:
            todo = {oid for oid in wanted if oid not in self.infos}
            if not todo:
                return
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise asyncio.TimeoutError("reading the type catalog took too long")
            mine = sorted(oid for oid in todo if oid not in self._inflight)
            if not mine:
                others = {self._inflight[oid] for oid in todo}
                await asyncio.wait([asyncio.shield(f) for f in others], timeout=remaining)
                continue
            fut: asyncio.Future[None] = loop.create_future()
            for oid in mine:
                self._inflight[oid] = fut
            try:
                await self._read(engine, mine, remaining, multiranges)
            finally:
                for oid in mine:
                    if self._inflight.get(oid) is fut:
                        del self._inflight[oid]
                fut.set_result(None)

    async def _read(
        self, engine: QueryEngine, oids: list[int], timeout: float | None, multiranges: bool
    ) -> None:
        generation = self.generation
        sql = _CATALOG_SQL_14 if multiranges else _CATALOG_SQL_OLD
        op = await engine.execute(sql, (oids,), record_class=Record, timeout=timeout)
        self.queries += 1
        if generation != self.generation:
            return  # invalidated meanwhile: what we read may predate the change
        infos = dict(self.infos)
        for row in op.rows:
            info = TypeInfo(
                row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                row[8], row[9], tuple(row[10]), tuple(row[11]),
            )  # fmt: skip
            infos[info.oid] = info
        for oid in oids:
            if oid not in infos:
                # No such type (dropped meanwhile): exchanged as text from now on.
                infos[oid] = TypeInfo(oid, "", "", "", "", 0, 0, ",", 0, 0, (), ())
        self.infos = infos


class SharedTypeCatalogs:
    """One TypeCatalog per server and database, for all connections of a pool."""

    def __init__(self) -> None:
        self._catalogs: dict[tuple[Any, ...], TypeCatalog] = {}

    def for_server(self, key: tuple[Any, ...]) -> TypeCatalog:
        catalog = self._catalogs.get(key)
        if catalog is None:
            catalog = self._catalogs[key] = TypeCatalog()
        return catalog

    @property
    def queries(self) -> int:
        return sum(c.queries for c in self._catalogs.values())


@dataclass(frozen=True, slots=True)
class _Override:
    """A codec a user chose for one type (set_type_codec / set_builtin_type_codec)."""

    name: str
    format: str
    encoder: Callable[[Any], Any] | None = None
    decoder: Callable[[Any], Any] | None = None
    builtin: Codec | None = None  # set_builtin_type_codec: the codec to alias


class ConnectionTypes:
    """One connection's view of the types: the catalog plus its codec overrides."""

    def __init__(self, catalog: TypeCatalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else TypeCatalog()
        self.multiranges = True
        self._overrides: dict[int, _Override] = {}
        # date/timestamp/timestamptz codecs with another infinity mapping.
        self._datetime: dict[int, Codec] = {}
        self.datetime_mapping = DateTimeMapping()
        self._codecs: dict[int, Codec] = {}
        self._generation = self.catalog.generation
        # Builtin types decoded by codecs of this connection's own: those the
        # user replaced and everything built on them, and records.
        self._plain = _PLAIN_BUILTIN
        # Types met in anonymous records before the catalog had them.
        self._record_misses: set[int] = set()
        self._record_miss_raised = False

    def use_catalog(self, catalog: TypeCatalog) -> None:
        """Share `catalog` (a pool's) from now on."""
        self.catalog = catalog
        self._codecs = {}
        self._generation = catalog.generation

    # -- statements ----------------------------------------------------------------

    async def resolve(
        self, engine: QueryEngine, state: StatementState, timeout: float | None
    ) -> None:
        """Give `state` codecs for every type it uses, reading the catalog if needed.

        Composite types read before this statement are checked against the
        catalog (one query): a renamed attribute must not decode under its old name.
        """
        if state.query in _INTERNAL_QUERIES:
            return
        params = state.param_oids
        columns = [oid for _, oid in state.columns]
        plain = self._plain
        if self._record_misses:
            misses = sorted(self._record_misses)
            self._record_misses.clear()
            await self.catalog.load(engine, misses, timeout, multiranges=self.multiranges)
        elif all(oid in plain for oid in (*params, *columns)):
            return  # the compiled core already chose the builtin codecs
        known_before = self.catalog.infos
        await self._load(engine, (*params, *columns), timeout)
        stale = [c for c in self._composites_in((*params, *columns)) if c in known_before]
        if stale and await self._layouts_changed(engine, stale, timeout):
            self.outdated()
            await self._load(engine, (*params, *columns), timeout)
        state.param_codecs = [self.codec(oid) for oid in params]
        state.column_codecs = [self.codec(oid) for oid in columns]

    async def _load(self, engine: QueryEngine, oids: Iterable[int], timeout: float | None) -> None:
        infos = self.catalog.infos
        missing = [oid for oid in oids if oid not in _BUILTIN and oid not in infos]
        missing.extend(self._override_dependencies(infos))
        if missing:
            await self.catalog.load(engine, missing, timeout, multiranges=self.multiranges)

    # -- composite layouts -------------------------------------------------------------

    def layout_check_needed(self, state: StatementState) -> bool:
        """Whether `state` sends or receives composite types read from the catalog.

        Cheap (no I/O): the engine can ask it before running a cached statement.
        """
        if all(oid in self._plain for oid in state.param_oids) and all(
            oid in self._plain for _, oid in state.columns
        ):
            return False
        return bool(self._composites_in((*state.param_oids, *(o for _, o in state.columns))))

    async def verify_layouts(
        self, engine: QueryEngine, state: StatementState, timeout: float | None
    ) -> bool:
        """Compare the composite types `state` uses with the catalog now (one query).

        If one changed (a renamed attribute, which its binary values cannot
        show), the types are read again and `state` gets new codecs; returns
        whether that happened.
        """
        oids = (*state.param_oids, *(o for _, o in state.columns))
        composites = self._composites_in(oids)
        if not composites or not await self._layouts_changed(engine, composites, timeout):
            return False
        self.outdated()
        await self._load(engine, oids, timeout)
        state.param_codecs = [self.codec(oid) for oid in state.param_oids]
        state.column_codecs = [self.codec(oid) for _, oid in state.columns]
        return True

    async def _layouts_changed(
        self, engine: QueryEngine, composites: list[int], timeout: float | None
    ) -> bool:
        op = await engine.execute(
            _LAYOUT_SQL, (sorted(composites),), record_class=Record, timeout=timeout
        )
        infos = self.catalog.infos
        now = {row[0]: (tuple(row[1]), tuple(row[2])) for row in op.rows}
        for oid in composites:
            info = infos.get(oid)
            if info is None:
                continue  # dropped from the catalog meanwhile: read afresh anyway
            if now.get(oid) != (info.attr_names, info.attr_oids):
                return True
        return False

    def _composites_in(self, oids: Iterable[int]) -> list[int]:
        """Composite types read from the catalog that values of `oids` can contain."""
        infos = self.catalog.infos
        found: list[int] = []
        seen: set[int] = set()
        todo = [oid for oid in oids if oid not in _BUILTIN]
        while todo:
            oid = todo.pop()
            if oid in seen:
                continue
            seen.add(oid)
            info = infos.get(oid)
            if info is None:
                continue
            if info.typtype == "c":
                found.append(oid)
                todo.extend(info.attr_oids)
            todo.extend(
                dep
                for dep in (info.elem, info.base, info.range_subtype, info.multirange_range)
                if dep and dep not in _BUILTIN
            )
        return found

    # -- anonymous records ----------------------------------------------------------------

    def _record_field(self, oid: int) -> Codec:
        """The binary codec for a field of an anonymous record (called while decoding)."""
        if oid in _BUILTIN or oid in self.catalog.infos:
            codec = self.codec(oid)
            if codec.format != 1:
                what = f"type {codec.name} (oid {oid})" if codec.name else f"type oid {oid}"
                raise ValueError(
                    f"a field of a record has {what}, which pgjet cannot decode in "
                    "binary; cast that field to text in the query"
                )
            return codec
        self._record_misses.add(oid)
        self._record_miss_raised = True
        raise RecordFieldTypeUnknown(
            f"a field of a record has type oid {oid}, which was not read from the catalog yet",
            oid,
            "",
        )

    def _override_dependencies(self, infos: dict[int, TypeInfo]) -> list[int]:
        # Tuple-format codecs of composites are built from their catalog rows.
        return [
            oid
            for oid, o in self._overrides.items()
            if o.format == "tuple" and oid not in _BUILTIN and oid not in infos
        ]

    @staticmethod
    def custom_params(state: StatementState) -> bool:
        """Whether `state` has parameters of types read from the catalog."""
        return any(oid not in _BUILTIN for oid in state.param_oids)

    def outdated(self, generation: int | None = None) -> None:
        """A value did not match its codec's layout: drop what was read, once."""
        if self._record_miss_raised:
            # Not a stale layout: a type the catalog has not been asked about
            # yet; resolve() reads it and keeps everything else.
            self._record_miss_raised = False
            return
        if generation is None:
            generation = self._generation
        if generation == self.catalog.generation:
            self.catalog.invalidate()
        self._codecs = {}
        self._generation = self.catalog.generation

    def reload(self) -> None:
        """Forget every type read so far (``reload_schema_state``)."""
        self.catalog.invalidate()
        self._codecs = {}
        self._generation = self.catalog.generation

    # -- codecs --------------------------------------------------------------------

    def codec(self, oid: int) -> Codec:
        """The codec for values of type `oid` (text fallback when nothing better is known)."""
        if self._generation != self.catalog.generation:
            self._codecs = {}
            self._generation = self.catalog.generation
        codec = self._codecs.get(oid)
        if codec is None:
            codec = self._codecs[oid] = self._build(oid, 0)
        return codec

    def _build(self, oid: int, depth: int) -> Codec:
        if depth > 64:
            raise errors.InternalClientError(f"type oid {oid} nests more than 64 levels deep")
        override = self._overrides.get(oid)
        if override is not None:
            return self._build_override(oid, override)
        builtin = _BUILTIN.get(oid)
        if builtin is not None:
            if oid in self._plain:
                return _codecs.get_codec(oid)
            return self._build_own_builtin(oid, builtin[0], depth)
        info = self.catalog.infos.get(oid)
        if info is None or not info.typtype:
            return _codecs.make_fallback_codec(oid, info.name if info else "")
        name = info.name
        if info.is_array:
            element = self._sub(info.elem, depth)
            return _codecs.make_array_codec(oid, name, element, self._delimiter(info.elem))
        if info.typtype == "e":
            return _codecs.make_text_codec(oid, name)
        if info.typtype == "d":
            return _codecs.make_alias_codec(oid, name, self._sub(info.base, depth))
        if info.typtype == "c":
            fields = [self._sub(a, depth) for a in info.attr_oids]
            composite = _codecs.make_composite_codec(
                oid, name, info.attr_names, info.attr_oids, fields
            )
            return composite if composite is not None else _codecs.make_fallback_codec(oid, name)
        if info.typtype == "r":
            return _codecs.make_range_codec(oid, name, self._sub(info.range_subtype, depth))
        if info.typtype == "m":
            return _codecs.make_multirange_codec(oid, name, self._sub(info.multirange_range, depth))
        extension = _EXTENSION_CODECS.get(name) if info.typtype == "b" else None
        if extension is not None:
            return extension(oid, name)
        return _codecs.make_fallback_codec(oid, name)

    def _build_own_builtin(self, oid: int, name: str, depth: int) -> Codec:
        """A builtin type's codec for this connection: replaced, or built on replaced ones."""
        replaced = self._datetime.get(oid)
        if replaced is not None:
            return replaced
        if oid == _RECORD_OID:
            return _codecs.make_record_codec(oid, name, self._record_field)
        elem = _ARRAY_ELEMENTS.get(oid)
        if elem is not None:
            element = self._sub(elem, depth)
            return _codecs.make_array_codec(oid, name, element, _BUILTIN[elem][4])
        subtype = RANGE_SUBTYPES.get(oid)
        if subtype is not None:
            return _codecs.make_range_codec(oid, name, self._sub(subtype, depth))
        range_oid = MULTIRANGE_RANGES.get(oid)
        if range_oid is not None:
            return _codecs.make_multirange_codec(oid, name, self._sub(range_oid, depth))
        return _codecs.get_codec(oid)

    def _replaced_changed(self) -> None:
        """Overrides or the datetime mapping changed: recompute which builtins are ours."""
        replaced = set(self._overrides) | set(self._datetime)
        own: set[int] = set()
        for oid in _BUILTIN:
            if _depends_on(oid, replaced):
                own.add(oid)
        self._plain = _PLAIN_BUILTIN - own
        self._codecs = {}

    def _sub(self, oid: int, depth: int) -> Codec:
        codec = self._codecs.get(oid)
        if codec is None:
            codec = self._codecs[oid] = self._build(oid, depth + 1)
        return codec

    def _delimiter(self, oid: int) -> str:
        builtin = _BUILTIN.get(oid)
        if builtin is not None:
            return builtin[4]
        info = self.catalog.infos.get(oid)
        return info.delimiter if info is not None else ","

    def _build_override(self, oid: int, o: _Override) -> Codec:
        if o.builtin is not None:
            return _codecs.make_alias_codec(oid, o.name, o.builtin)
        assert o.encoder is not None and o.decoder is not None
        inner: Codec | None
        if o.format == "binary":
            inner = _codecs.make_bytes_codec(oid, o.name)
        elif o.format == "text":
            inner = self._text_exchange(oid, o.name)
        else:
            inner = _codecs.make_tuple_exchange_codec(oid, o.name, oid)
            info = self.catalog.infos.get(oid)
            if inner is None and info is not None and info.typtype == "c":
                fields = [self.codec(a) for a in info.attr_oids]
                inner = _codecs.make_composite_codec(
                    oid, o.name, info.attr_names, info.attr_oids, fields, True
                )
            if inner is None:
                return _codecs.make_fallback_codec(oid, o.name)
        return _codecs.make_user_codec(oid, o.name, inner, o.encoder, o.decoder)

    def _text_exchange(self, oid: int, name: str) -> Codec:
        """Text for the user's codec; in binary when the binary form IS the text."""
        if oid == _JSONB_OID:
            return _codecs.make_jsonb_text_codec(oid, name)
        info = self.catalog.infos.get(oid)
        if (
            oid in _TEXT_LIKE
            or (info is not None and info.typtype == "e")
            or (info is not None and info.name == "citext")
        ):
            return _codecs.make_text_codec(oid, name)
        return _codecs.make_fallback_codec(oid, name)

    # -- describing (PreparedStatement.get_parameters / get_attributes) -------------

    def describe(self, oid: int) -> tuple[str, str, str] | None:
        """(name, kind, schema) of a non-builtin type as asyncpg reports them, or None."""
        info = self.catalog.infos.get(oid)
        if info is None or not info.typtype:
            return None
        if info.typtype == "d":
            # asyncpg reports a domain as its base type (under the domain's oid).
            return _describe_any(self.catalog.infos, info.base)
        return _describe_any(self.catalog.infos, oid)

    # -- overrides -------------------------------------------------------------------

    async def set_type_codec(
        self,
        engine: QueryEngine,
        typename: str,
        schema: str,
        encoder: Callable[[Any], Any],
        decoder: Callable[[Any], Any],
        format: str,
    ) -> None:
        if format not in ("text", "binary", "tuple"):
            raise errors.InterfaceError(
                f"format must be 'text', 'binary' or 'tuple', got {format!r}"
            )
        if not callable(encoder) or not callable(decoder):
            raise errors.InterfaceError("encoder and decoder must be callables")
        oid, typtype, category, elem = await self._lookup(engine, typename, schema)
        is_array = category == "A" and elem != 0
        if typtype == "c":
            if format != "tuple":
                raise errors.UnsupportedClientFeatureError(
                    "only tuple-format codecs can be used on composite types",
                    hint="Use `set_type_codec(..., format='tuple')` and "
                    "pass/interpret data as a Python tuple.",
                )
            await self.catalog.load(engine, (oid,), None, multiranges=self.multiranges)
        elif typtype == "d":
            raise errors.UnsupportedClientFeatureError(
                "custom codecs on domain types are not supported",
                hint="Set the codec on the base type.",
                detail="PostgreSQL does not distinguish domains from their base types "
                "in query results at the protocol level.",
            )
        elif typtype not in ("b", "e") or is_array:
            raise errors.InterfaceError(
                f"cannot use custom codec on type {schema}.{typename}: "
                "it is neither a scalar type nor a composite type"
            )
        elif format == "tuple" and _codecs.make_tuple_exchange_codec(oid, typename, oid) is None:
            raise errors.UnsupportedClientFeatureError(
                f"type {schema}.{typename} does not support the 'tuple' exchange format",
                hint="The tuple format exists for date, time, timetz, timestamp, "
                "timestamptz, interval and composite types.",
            )
        if oid not in _BUILTIN:
            # Enums and citext exchange text in binary: their catalog rows say so.
            await self.catalog.load(engine, (oid,), None, multiranges=self.multiranges)
        self._set(oid, _Override(typename, format, encoder, decoder))

    async def set_builtin_type_codec(
        self,
        engine: QueryEngine,
        typename: str,
        schema: str,
        codec_name: str,
        format: str | None,
    ) -> None:
        oid, typtype, category, elem = await self._lookup(engine, typename, schema)
        if typtype not in ("b", "e", "d") or (category == "A" and elem != 0):
            raise errors.InterfaceError(f"cannot alias non-scalar type {schema}.{typename}")
        builtin = _builtin_by_name(oid, typename, codec_name)
        if format is not None and format not in ("text", "binary"):
            raise errors.InterfaceError(f"format must be 'text' or 'binary', got {format!r}")
        if format == "text":
            if oid not in _BUILTIN:
                await self.catalog.load(engine, (oid,), None, multiranges=self.multiranges)
            self._set(oid, _text_override(oid, typename, codec_name, builtin))
            return
        self._set(oid, _Override(typename, format or "binary", builtin=builtin))

    async def reset_type_codec(self, engine: QueryEngine, typename: str, schema: str) -> None:
        oid, *_ = await self._lookup(engine, typename, schema)
        self._overrides.pop(oid, None)
        self._replaced_changed()

    def set_json_codecs(
        self, loads: Callable[[Any], Any] | None, dumps: Callable[[Any], Any] | None
    ) -> None:
        """json/jsonb through `loads`/`dumps` (a missing half keeps exchanging str)."""
        if loads is None and dumps is None:
            return
        decoder = loads if loads is not None else _identity
        encoder = dumps if dumps is not None else _identity
        for oid, name in ((_JSON_OID, "json"), (_JSONB_OID, "jsonb")):
            self._set(oid, _Override(name, "text", encoder, decoder))

    def _set(self, oid: int, override: _Override) -> None:
        self._overrides[oid] = override
        self._replaced_changed()

    # -- ±infinity and out-of-range dates -------------------------------------------------

    def set_datetime_mapping(self, mapping: DateTimeMapping) -> None:
        """How date, timestamp and timestamptz map ±infinity and years outside 1..9999.

        Applies to their arrays, ranges and multiranges, and to records and
        composites holding them. The connection's cached statements must be
        dropped by the caller (their codecs were chosen before).
        """
        if not isinstance(mapping, DateTimeMapping):
            raise TypeError(f"expected a pgjet.types.DateTimeMapping, got {type(mapping).__name__}")
        self.datetime_mapping = mapping
        self._datetime = {}
        if not mapping.is_default:
            kind = "sentinels" if isinstance(mapping.infinity, tuple) else str(mapping.infinity)
            neg, pos = mapping.infinity if isinstance(mapping.infinity, tuple) else (None, None)
            clamp = mapping.out_of_range == "infinity"
            for oid in (_DATE_OID, _TIMESTAMP_OID, _TIMESTAMPTZ_OID):
                self._datetime[oid] = _codecs.make_datetime_codec(oid, kind, neg, pos, clamp)
        self._replaced_changed()

    async def _lookup(
        self, engine: QueryEngine, typename: str, schema: str
    ) -> tuple[int, str, str, int]:
        op = await engine.execute(
            _TYPE_BY_NAME_SQL, (typename, schema), record_class=Record, timeout=None
        )
        if not op.rows:
            raise ValueError(f"unknown type: {schema}.{typename}")
        row = op.rows[0]
        return row[0], row[1], row[2], row[3]


_DATE_OID = 1082
_TIMESTAMP_OID = 1114
_TIMESTAMPTZ_OID = 1184


def _depends_on(oid: int, replaced: set[int]) -> bool:
    """Whether the builtin type `oid` is, or is built on, a type in `replaced`."""
    for _ in range(4):  # array of multirange of range of subtype: the deepest nesting
        if oid in replaced:
            return True
        elem = _ARRAY_ELEMENTS.get(oid)
        if elem is not None:
            oid = elem
            continue
        nxt = RANGE_SUBTYPES.get(oid) or MULTIRANGE_RANGES.get(oid)
        if nxt is None:
            return False
        oid = nxt
    return oid in replaced


def _describe_any(infos: dict[int, TypeInfo], oid: int) -> tuple[str, str, str] | None:
    builtin = _BUILTIN.get(oid)
    if builtin is not None:
        name, typtype, category, elem, _ = builtin
        if category == "A" and elem:
            return (name.removeprefix("_") + "[]", "array", "pg_catalog")
        return (name, _KINDS.get(typtype, "scalar"), "pg_catalog")
    info = infos.get(oid)
    if info is None or not info.typtype:
        return None
    if info.typtype == "d":
        return _describe_any(infos, info.base)
    if info.is_array:
        element = infos.get(info.elem)
        base = element.name if element is not None else info.name.removeprefix("_")
        return (base + "[]", "array", info.schema)
    return (info.name, _KINDS.get(info.typtype, "scalar"), info.schema)


_KINDS = {"c": "composite", "r": "range", "m": "multirange"}


def _text_override(oid: int, typename: str, codec_name: str, builtin: Codec) -> _Override:
    """Values of `oid` exchanged in text format, read as `builtin` reads its text."""
    if builtin.oid in _TEXT_LIKE or builtin.oid == _JSONB_OID or builtin.format != 1:
        # The codec's text form is the str itself.
        return _Override(typename, "text", _text_only, _identity)
    parsers = _TEXT_PARSERS.get(_BUILTIN.get(builtin.oid, ("",))[0])
    if parsers is None:
        supported = ", ".join(sorted(_TEXT_PARSERS))
        raise errors.InterfaceError(
            f"cannot alias {typename} to {codec_name}: there is no text codec for "
            f"{codec_name} (text codecs: the text types, json, jsonb, xml and {supported})"
        )
    parse, fmt = parsers
    return _Override(typename, "text", fmt, parse)


def _text_only(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


def _builtin_by_name(oid: int, typename: str, codec_name: str) -> Codec:
    if codec_name == "pg_contrib.hstore":
        return _codecs.make_hstore_codec(oid, typename)
    wanted = _SQL_NAMES.get(codec_name.lower(), codec_name.lower())
    for builtin_oid, (name, *_rest) in _BUILTIN.items():
        if name == wanted:
            codec = _codecs.builtin_codec(builtin_oid)
            if codec is not None:
                return codec
    raise errors.InterfaceError(f"unknown builtin codec {codec_name!r}")


def _identity(value: Any) -> Any:
    return value
