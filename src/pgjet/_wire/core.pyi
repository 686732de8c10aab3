from collections.abc import Callable, Mapping
from typing import Any

from pgjet._wire.buffer import WriteBuffer

class ProtocolViolation(Exception): ...

class Operation:
    waiter: Any
    result: Any
    error_fields: dict[str, str] | None
    status: str | None
    def __init__(self) -> None: ...

class StartupOp(Operation): ...

class QueryOp(Operation):
    rows: list[Any]
    columns: list[tuple[str, int]] | None
    row_factory: Callable[[dict[str, int], list[Any]], Any] | None
    text_decoders: Mapping[int, Callable[[str], Any]]
    def __init__(
        self,
        text_decoders: Mapping[int, Callable[[str], Any]] | None = ...,
        row_factory: Callable[[dict[str, int], list[Any]], Any] | None = ...,
    ) -> None: ...

class WireProtocol:
    out: WriteBuffer
    completed: list[Operation]
    events: list[tuple[Any, ...]]
    parameters: dict[str, str]
    backend_pid: int
    backend_key: bytes | None
    transaction_status: str
    authenticated: bool
    negotiated_minor: int
    wants_flush: bool
    max_message_size: int
    def __init__(self, max_message_size: int = ...) -> None: ...
    def push(self, op: Operation) -> None: ...
    def pending_count(self) -> int: ...
    def pending_operations(self) -> list[Operation]: ...
    def first_pending(self) -> Operation | None: ...
    def abort_pending(self) -> list[Operation]: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> bool: ...
    def feed(self, data: bytes | bytearray | memoryview) -> bool: ...
    def buffered_bytes(self) -> int: ...

class ArgumentError(Exception):
    position: int
    error: BaseException

class StatementState:
    name: bytes
    query: str
    param_oids: tuple[int, ...]
    param_codecs: list[Any]
    columns: tuple[tuple[str, int], ...]
    column_codecs: list[Any]
    descriptor: Any
    record_class: Any
    closed: bool
    def __init__(self, name: bytes, query: str) -> None: ...
    def write_bind(self, out: WriteBuffer, portal: bytes, args: Any) -> int: ...

class SyncOp(Operation): ...

class PrepareOp(Operation):
    state: StatementState
    def __init__(self, state: StatementState) -> None: ...

class ExecuteOp(Operation):
    state: StatementState
    rows: list[Any]
    suspended: bool
    discard_rows: bool
    completed_commands: int
    decode_error: BaseException | None
    schema_changed: bool
    def __init__(self, state: StatementState, discard_rows: bool = ...) -> None: ...
