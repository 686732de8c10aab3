"""Unit tests of pgjet.errors and its generator (no server needed)."""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import inspect
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pgjet.errors as errors
from pgjet.errors import _sqlstate

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "tools" / "gen_errors.py"

ALL_FIELDS = {
    "S": "ERROR",
    "V": "ERROR",
    "C": "23505",
    "M": "duplicate key value violates unique constraint",
    "D": "Key (id)=(1) already exists.",
    "H": "Try another id.",
    "P": "8",
    "p": "3",
    "q": "select 1",
    "W": "PL/pgSQL function f() line 3",
    "s": "public",
    "t": "items",
    "c": "id",
    "d": "int4",
    "n": "items_pkey",
    "F": "nbtinsert.c",
    "L": "666",
    "R": "_bt_check_unique",
}
ATTRIBUTE_OF_FIELD = {
    "S": "severity",
    "V": "severity_en",
    "C": "sqlstate",
    "M": "message",
    "D": "detail",
    "H": "hint",
    "P": "position",
    "p": "internal_position",
    "q": "internal_query",
    "W": "context",
    "s": "schema_name",
    "t": "table_name",
    "c": "column_name",
    "d": "data_type_name",
    "n": "constraint_name",
    "F": "server_source_filename",
    "L": "server_source_line",
    "R": "server_source_function",
}
DIAG_ATTRIBUTE_OF_FIELD = {
    "S": "severity",
    "V": "severity_nonlocalized",
    "C": "sqlstate",
    "M": "message_primary",
    "D": "message_detail",
    "H": "message_hint",
    "P": "statement_position",
    "p": "internal_position",
    "q": "internal_query",
    "W": "context",
    "s": "schema_name",
    "t": "table_name",
    "c": "column_name",
    "d": "datatype_name",
    "n": "constraint_name",
    "F": "source_file",
    "L": "source_line",
    "R": "source_function",
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_errors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_errors"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sqlstate_classes() -> list[type[Any]]:
    return [
        obj
        for name, obj in vars(_sqlstate).items()
        if isinstance(obj, type) and obj.__name__ == name and name in _sqlstate.__all__
    ]


# --- generator ---------------------------------------------------------------


def test_generated_module_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_check_detects_a_stale_module(tmp_path: Path) -> None:
    stale = tmp_path / "_sqlstate.py"
    stale.write_text(Path(_sqlstate.__file__).read_text() + "\n# edited by hand\n")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "stale" in result.stderr


def test_generator_rewrites_the_module(tmp_path: Path) -> None:
    output = tmp_path / "_sqlstate.py"
    subprocess.run([sys.executable, str(GENERATOR), "--output", str(output)], check=True)
    assert output.read_text() == Path(_sqlstate.__file__).read_text()


@pytest.mark.parametrize(
    "line",
    [
        "2350     E    ERRCODE_SHORT    short_code",
        "23505    X    ERRCODE_BAD_KIND    bad_kind",
        "23505    E    ERRCODE_X    Upper_Spec",
        "23505    E    ERRCODE_X    spec    extra",
    ],
)
def test_generator_rejects_malformed_lines(line: str) -> None:
    gen = load_generator()
    text = f"Section: Class 23 - Integrity Constraint Violation\n\n{line}\n"
    with pytest.raises(ValueError, match="line 3"):
        gen.parse_errcodes(text)


def test_generator_skips_alias_lines_and_keeps_retired_codes() -> None:
    gen = load_generator()
    codes = gen.parse_errcodes(
        "Section: Class 22 - Data Exception\n"
        "22000    E    ERRCODE_DATA_EXCEPTION    data_exception\n"
        "2202E    E    ERRCODE_ARRAY_ELEMENT_ERROR\n"
    )
    assert [c.sqlstate for c in codes] == ["22000", "72000"]


# --- asyncpg compatibility -------------------------------------------------------


def test_every_asyncpg_exception_exists_with_its_sqlstate_and_bases() -> None:
    asyncpg_exceptions = pytest.importorskip("asyncpg.exceptions")
    checked = 0
    for name in asyncpg_exceptions.__all__:
        theirs = getattr(asyncpg_exceptions, name)
        if not isinstance(theirs, type):
            continue
        ours = getattr(errors, name, None)
        assert isinstance(ours, type), f"pgjet.errors lacks {name}"
        assert ours.__name__ == name
        assert getattr(ours, "sqlstate", None) == getattr(theirs, "sqlstate", None), name
        their_bases = [b.__name__ for b in theirs.__bases__ if b.__name__ != "InterfaceMessage"]
        if "sqlstate" in vars(theirs) or name == "InvalidCachedStatementError":
            assert [b.__name__ for b in ours.__bases__] == their_bases, name
        else:  # hand-written classes: asyncpg's mixins aside, the same bases
            our_mro = {c.__name__ for c in ours.__mro__}
            assert set(their_bases) <= our_mro, name
        checked += 1
    assert checked > 250


def test_every_asyncpg_sqlstate_maps_to_the_same_name() -> None:
    asyncpg_exceptions = pytest.importorskip("asyncpg.exceptions")
    theirs = {
        cls.sqlstate: cls.__name__
        for cls in vars(asyncpg_exceptions).values()
        if isinstance(cls, type) and "sqlstate" in vars(cls)
    }
    assert len(theirs) > 250
    for sqlstate, name in theirs.items():
        assert errors.lookup(sqlstate).__name__ == name


def test_asyncpg_data_error_meaning_is_kept() -> None:
    # asyncpg's public DataError is the SQLSTATE 22000 class (its client-side
    # InterfaceError subclass of the same name is shadowed by it).
    assert errors.DataError.sqlstate == "22000"
    assert issubclass(errors.DataError, errors.PostgresError)
    assert errors.DataException is errors.DataError
    assert issubclass(errors.DivisionByZeroError, errors.DataError)
    assert issubclass(errors.InvalidQueryInputError, errors.DataError)
    assert issubclass(errors.InvalidQueryInputError, ValueError)
    asyncpg = pytest.importorskip("asyncpg")
    assert asyncpg.DataError.sqlstate == errors.DataError.sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "name", "parent"),
    [
        ("23505", "UniqueViolationError", "IntegrityConstraintViolationError"),
        ("23000", "IntegrityConstraintViolationError", "PostgresError"),
        ("22012", "DivisionByZeroError", "DataError"),
        ("42601", "PostgresSyntaxError", "SyntaxOrAccessError"),
        ("42P01", "UndefinedTableError", "SyntaxOrAccessError"),
        ("08000", "PostgresConnectionError", "PostgresError"),
        ("08001", "ClientCannotConnectError", "PostgresConnectionError"),
        ("28P01", "InvalidPasswordError", "InvalidAuthorizationSpecificationError"),
        ("40001", "SerializationError", "TransactionRollbackError"),
        ("40P01", "DeadlockDetectedError", "TransactionRollbackError"),
        ("57014", "QueryCanceledError", "OperatorInterventionError"),
        ("58030", "PostgresIOError", "PostgresSystemError"),
        ("22P01", "PostgresFloatingPointError", "DataError"),
        ("38002", "ModifyingExternalRoutineSQLDataNotPermittedError", "ExternalRoutineError"),
        ("HV000", "FDWError", "PostgresError"),
        ("P0001", "RaiseError", "PLPGSQLError"),
        ("XX000", "InternalServerError", "PostgresError"),
        ("72000", "SnapshotTooOldError", "PostgresError"),
        ("01000", "PostgresWarning", "PostgresLogMessage"),
        ("01004", "StringDataRightTruncation", "PostgresWarning"),
        ("02000", "NoData", "PostgresWarning"),
    ],
)
def test_representative_names_and_hierarchy(sqlstate: str, name: str, parent: str) -> None:
    cls = getattr(errors, name)
    assert cls.sqlstate == sqlstate
    assert errors.lookup(sqlstate) is cls
    assert cls.__bases__[0] is getattr(errors, parent)
    assert issubclass(cls, errors.PostgresMessage)


def test_invalid_cached_statement_error_is_a_feature_not_supported_error() -> None:
    assert issubclass(errors.InvalidCachedStatementError, errors.FeatureNotSupportedError)
    assert errors.InvalidCachedStatementError.sqlstate == "0A000"
    assert errors.lookup("0A000") is errors.FeatureNotSupportedError


def test_generated_classes_are_consistent() -> None:
    classes = sqlstate_classes()
    with_own_code = [c for c in classes if "sqlstate" in vars(c)]
    codes = [c.sqlstate for c in with_own_code]
    assert len(codes) == len(set(codes))
    for cls in with_own_code:
        assert _sqlstate.CLASSES_BY_SQLSTATE[cls.sqlstate] is cls
        parent = cls.__bases__[0]
        if "sqlstate" in vars(parent) and parent is not errors.PostgresWarning:
            # Within a SQLSTATE class, every code derives from the class's generic code.
            assert parent.sqlstate[:2] == cls.sqlstate[:2], cls
            assert parent.sqlstate.endswith("000"), cls
        is_warning = cls.sqlstate[:2] in ("01", "02")
        assert issubclass(cls, errors.PostgresWarning) is is_warning
        assert issubclass(cls, errors.PostgresError) is not is_warning


# --- psycopg compatibility -------------------------------------------------------


def test_psycopg_names_are_aliases_of_the_same_classes() -> None:
    psycopg_errors = pytest.importorskip("psycopg.errors")
    checked = 0
    for name, theirs in vars(psycopg_errors).items():
        if not (isinstance(theirs, type) and isinstance(vars(theirs).get("sqlstate"), str)):
            continue  # DB-API classes (Error, DataError, ...) have no SQLSTATE
        if name == "StringDataRightTruncation":
            # asyncpg's name for 01004 wins; psycopg's 22001 has asyncpg's name here.
            assert errors.StringDataRightTruncation.sqlstate == "01004"
            assert errors.StringDataRightTruncationError.sqlstate == theirs.sqlstate
            continue
        ours = getattr(errors, name)
        assert ours.sqlstate == theirs.sqlstate, name
        assert ours is errors.lookup(theirs.sqlstate)
        checked += 1
    assert checked > 240
    assert errors.UniqueViolation is errors.UniqueViolationError
    assert errors.InvalidPassword is errors.InvalidPasswordError
    assert errors.SyntaxError is errors.PostgresSyntaxError


def test_lookup_by_name_agrees_with_psycopg() -> None:
    psycopg_errors = pytest.importorskip("psycopg.errors")
    checked = 0
    for name in _sqlstate.SQLSTATES_BY_NAME:
        try:
            theirs = psycopg_errors.lookup(name)
        except KeyError:
            continue
        assert errors.lookup(name).sqlstate == theirs.sqlstate, name
        checked += 1
    assert checked > 240


def test_all_exports_resolve_and_never_shadow_builtins() -> None:
    assert len(errors.__all__) == len(set(errors.__all__))
    for name in errors.__all__:
        assert hasattr(errors, name), name
        assert not hasattr(builtins, name), name
    assert "SyntaxError" not in errors.__all__
    assert "UniqueViolation" in errors.__all__
    hand_written = set(errors.__all__) - set(_sqlstate.__all__)
    assert not hand_written & set(_sqlstate.__all__)
    assert errors.UniqueViolationError.__module__ == "pgjet.errors"


# --- from_fields ---------------------------------------------------------------


def test_from_fields_maps_every_field() -> None:
    error = errors.from_fields(ALL_FIELDS, query="insert into items values (1)")
    assert type(error) is errors.UniqueViolationError
    for code, attribute in ATTRIBUTE_OF_FIELD.items():
        assert getattr(error, attribute) == ALL_FIELDS[code], attribute
    for code, attribute in DIAG_ATTRIBUTE_OF_FIELD.items():
        assert getattr(error.diag, attribute) == ALL_FIELDS[code], attribute
    assert error.as_dict() == {ATTRIBUTE_OF_FIELD[k]: v for k, v in ALL_FIELDS.items()}
    assert error.query == "insert into items values (1)"
    assert error.pgcode == "23505"
    assert error.pgerror is not None and error.pgerror.startswith("ERROR:  duplicate key")
    assert error.args == (ALL_FIELDS["M"],)


def test_from_fields_without_optional_fields_leaves_them_none() -> None:
    error = errors.from_fields({"C": "42P01", "M": 'relation "x" does not exist'})
    assert type(error) is errors.UndefinedTableError
    assert error.detail is None and error.hint is None and error.query is None
    assert error.as_dict() == {"sqlstate": "42P01", "message": 'relation "x" does not exist'}
    assert str(error) == 'relation "x" does not exist'


def test_str_includes_detail_and_hint() -> None:
    error = errors.from_fields(ALL_FIELDS)
    assert str(error) == (
        "duplicate key value violates unique constraint\n"
        "DETAIL:  Key (id)=(1) already exists.\n"
        "HINT:  Try another id."
    )
    assert repr(error) == "UniqueViolationError('duplicate key value violates unique constraint')"


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("23999", "IntegrityConstraintViolationError"),
        ("22ZZZ", "DataError"),
        ("ZZ999", "UnknownPostgresError"),
        ("01999", "UnknownPostgresError"),  # a warning class is not an error
        ("00000", "UnknownPostgresError"),
        ("", "UnknownPostgresError"),
        ("2", "UnknownPostgresError"),
        ("23", "UnknownPostgresError"),
        ("235050", "UnknownPostgresError"),
        ("€€€€€", "UnknownPostgresError"),
        ("\x00\x00\x00\x00\x00", "UnknownPostgresError"),
    ],
)
def test_unknown_sqlstates_fall_back(sqlstate: str, expected: str) -> None:
    error = errors.from_fields({"C": sqlstate, "M": "boom"})
    assert type(error) is getattr(errors, expected)
    assert error.sqlstate == sqlstate  # the code the server sent, not the class's
    assert str(error) == "boom"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"M": "no code"},
        {"C": "23505"},
        {"": "", "CC": "x", "Z": "y", "\x00": "z"},
        {"S": "PANIC", "V": "PANIC"},
    ],
)
def test_hostile_fields_do_not_crash(fields: dict[str, str]) -> None:
    error = errors.from_fields(fields)
    assert isinstance(error, errors.PostgresError)
    assert isinstance(str(error), str) and isinstance(repr(error), str)
    assert set(error.as_dict()) <= set(ATTRIBUTE_OF_FIELD.values())
    assert pickle.loads(pickle.dumps(error)).as_dict() == error.as_dict()


@given(st.dictionaries(st.text(max_size=3), st.text(max_size=20), max_size=25))
def test_any_field_mapping_gives_an_error(fields: dict[str, str]) -> None:
    error = errors.from_fields(fields)
    assert isinstance(error, errors.PostgresError)
    str(error)
    repr(error)
    notice = errors.notice_from_fields(fields)
    assert isinstance(notice, errors.PostgresMessage)
    str(notice)


def test_revalidate_cached_query_gives_invalid_cached_statement_error() -> None:
    fields = {"C": "0A000", "M": "cached plan must not change result type"}
    assert type(errors.from_fields(fields)) is errors.FeatureNotSupportedError
    error = errors.from_fields({**fields, "R": "RevalidateCachedQuery"})
    assert type(error) is errors.InvalidCachedStatementError
    assert error.sqlstate == "0A000"


# --- notices -------------------------------------------------------------------


def test_notice_classes() -> None:
    plain = errors.notice_from_fields({"S": "NOTICE", "V": "NOTICE", "C": "00000", "M": "hi"})
    assert type(plain) is errors.PostgresLogMessage
    assert str(plain) == "PostgresLogMessage: hi"
    warning = errors.notice_from_fields({"S": "WARNING", "V": "WARNING", "C": "01000", "M": "w"})
    assert type(warning) is errors.PostgresWarning
    assert isinstance(warning, Warning)
    specific = errors.notice_from_fields({"S": "WARNING", "C": "01P01", "M": "old"})
    assert type(specific) is errors.DeprecatedFeature
    no_code_warning = errors.notice_from_fields({"S": "WARNUNG", "V": "WARNING", "M": "x"})
    assert type(no_code_warning) is errors.PostgresWarning
    skipping = errors.notice_from_fields({"S": "NOTICE", "C": "42P07", "M": "exists, skipping"})
    assert type(skipping) is errors.DuplicateTableError  # as asyncpg does
    assert skipping.message == "exists, skipping"


def test_log_messages_are_immutable() -> None:
    notice = errors.notice_from_fields({"S": "NOTICE", "C": "00000", "M": "hi"}, query="do")
    assert notice.query == "do"
    with pytest.raises(TypeError, match="immutable"):
        notice.message = "changed"


# --- lookup --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["23505", "unique_violation", "UNIQUE_VIOLATION", "Unique_Violation"]
)
def test_lookup_by_code_and_name(key: str) -> None:
    assert errors.lookup(key) is errors.UniqueViolationError


def test_lookup_lowercase_code_and_warnings() -> None:
    assert errors.lookup("2202e") is errors.ArraySubscriptError
    assert errors.lookup("warning") is errors.PostgresWarning
    assert errors.lookup("snapshot_too_old") is errors.SnapshotTooOldError


@pytest.mark.parametrize("key", ["", "99999", "UniqueViolationError", "unique violation", "2350"])
def test_lookup_unknown_raises_key_error(key: str) -> None:
    with pytest.raises(KeyError):
        errors.lookup(key)


def test_lookup_non_string_raises_key_error() -> None:
    with pytest.raises(KeyError):
        errors.lookup(23505)  # type: ignore[arg-type]


def test_lookup_result_is_catchable() -> None:
    with pytest.raises(errors.IntegrityConstraintViolationError):
        try:
            raise errors.from_fields({"C": "23505", "M": "dup"})
        except errors.lookup("23503"):  # foreign key violation: must not match
            pytest.fail("caught by the wrong class")


# --- pickling ------------------------------------------------------------------


def roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def test_server_error_survives_pickle() -> None:
    error = errors.from_fields(ALL_FIELDS, query="insert")
    copy = roundtrip(error)
    assert type(copy) is errors.UniqueViolationError
    assert copy.as_dict() == error.as_dict()
    assert copy.query == "insert"
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.diag.constraint_name == "items_pkey"


def test_unknown_error_keeps_its_code_through_pickle() -> None:
    copy = roundtrip(errors.from_fields({"C": "ZZ123", "M": "odd"}))
    assert type(copy) is errors.UnknownPostgresError
    assert copy.sqlstate == "ZZ123"


def test_notices_survive_pickle() -> None:
    for fields in (
        {"S": "NOTICE", "C": "00000", "M": "hi"},
        {"S": "WARNING", "C": "01000", "M": "w", "D": "d"},
    ):
        notice = errors.notice_from_fields(fields)
        copy = roundtrip(notice)
        assert type(copy) is type(notice)
        assert copy.as_dict() == notice.as_dict()


def test_client_errors_survive_pickle() -> None:
    interface = roundtrip(errors.InterfaceError("bad use", detail="d", hint="h"))
    assert (str(interface), interface.detail, interface.hint) == (
        "bad use\nDETAIL:  d\nHINT:  h",
        "d",
        "h",
    )
    outdated = roundtrip(
        errors.OutdatedSchemaCacheError("x", schema="s", data_type="t", position="2")
    )
    assert (outdated.schema_name, outdated.data_type_name, outdated.position) == ("s", "t", "2")
    bad_input = roundtrip(errors.InvalidQueryInputError("invalid input for query argument $1"))
    assert type(bad_input) is errors.InvalidQueryInputError
    assert bad_input.message == "invalid input for query argument $1"
    closed = roundtrip(errors.ServerClosedDuringStartupError("closed"))
    assert (type(closed), str(closed)) == (errors.ServerClosedDuringStartupError, "closed")
    timeout = roundtrip(errors.ConnectTimeoutError("timed out after 60s"))
    assert (type(timeout), str(timeout)) == (errors.ConnectTimeoutError, "timed out after 60s")


def test_attempts_error_survives_pickle() -> None:
    error = errors.ConnectionAttemptsFailedError(
        [("db1", 5432, ConnectionRefusedError(111, "Connection refused"))], hint="check hosts"
    )
    copy = roundtrip(error)
    assert str(copy) == str(error)
    assert copy.hint == "check hosts"
    assert [(h, p, type(e), e.args) for h, p, e in copy.attempts] == [
        ("db1", 5432, ConnectionRefusedError, (111, "Connection refused"))
    ]


# --- client-side and connection errors -------------------------------------------


def test_client_error_hierarchy_matches_asyncpg() -> None:
    assert issubclass(errors.ClientConfigurationError, errors.InterfaceError)
    assert issubclass(errors.ClientConfigurationError, ValueError)
    assert issubclass(errors.UnsupportedServerFeatureError, errors.InterfaceError)
    assert issubclass(errors.ProtocolError, errors.InternalClientError)
    assert issubclass(errors.TargetServerAttributeNotMatched, errors.InternalClientError)
    assert issubclass(errors.InterfaceWarning, UserWarning)
    assert issubclass(errors.ConnectionDoesNotExistError, errors.PostgresConnectionError)
    assert not issubclass(errors.InterfaceError, errors.PostgresError)


def test_interface_error_with_msg_keeps_class_and_details() -> None:
    error = errors.ClientConfigurationError("old", detail="d", hint="h")
    renamed = error.with_msg("new")
    assert type(renamed) is errors.ClientConfigurationError
    assert (renamed.args, renamed.detail, renamed.hint) == (("new",), "d", "h")


@pytest.mark.parametrize(
    ("cls", "catchers"),
    [
        (errors.ConnectionAttemptsFailedError, (errors.InterfaceError, ConnectionError, OSError)),
        (errors.TLSUnavailableError, (errors.InterfaceError, ConnectionError, OSError)),
        (errors.ConnectTimeoutError, (errors.InterfaceError, TimeoutError, asyncio.TimeoutError)),
        (
            errors.ServerClosedDuringStartupError,
            (errors.ConnectionDoesNotExistError, errors.PostgresError, ConnectionResetError),
        ),
        (errors.ChannelBindingError, (errors.InterfaceError,)),
        (errors.AuthenticationMethodError, (errors.InterfaceError,)),
    ],
)
def test_connection_errors_are_caught_by_what_asyncpg_users_catch(
    cls: type[BaseException], catchers: tuple[type[BaseException], ...]
) -> None:
    for catcher in catchers:
        assert issubclass(cls, catcher), (cls, catcher)


def test_attempts_error_lists_every_attempt_on_its_own_line() -> None:
    attempts: list[tuple[str, int | str, BaseException]] = [
        ("db1.example", 5432, ConnectionRefusedError(111, "Connection refused")),
        (
            "::1",
            5433,
            errors.from_fields({"C": "28P01", "M": 'password authentication failed for user "u"'}),
        ),
        ("/run/postgresql", "5432", errors.ConnectTimeoutError("timed out\nafter 2s")),
    ]
    error = errors.ConnectionAttemptsFailedError(attempts)
    lines = str(error).splitlines()
    assert len(lines) == 1 + len(attempts)
    assert "3" in lines[0]
    assert lines[1] == "  db1.example:5432: ConnectionRefusedError: [Errno 111] Connection refused"
    assert (
        lines[2]
        == '  [::1]:5433: InvalidPasswordError: password authentication failed for user "u"'
    )
    assert lines[3] == "  /run/postgresql:5432: ConnectTimeoutError: timed out after 2s"
    assert error.attempts == attempts


def test_attempts_error_has_no_way_to_carry_a_password() -> None:
    assert list(inspect.signature(errors.ConnectionAttemptsFailedError).parameters) == [
        "attempts",
        "hint",
    ]
    with pytest.raises(ValueError, match="at least one"):
        errors.ConnectionAttemptsFailedError([])
