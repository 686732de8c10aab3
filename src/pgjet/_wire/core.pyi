from collections.abc import Callable, Iterator, Mapping
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

class BufferedReceiver:
    core: WireProtocol
    loop: Any
    transport: Any
    negotiation: Any
    negotiation_buf: bytearray
    _exclusive: bool
    _holds: int
    def send_queued(self, op: Operation) -> Any: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...

class ArgumentError(Exception):
    position: int
    error: BaseException

class BatchRowError(Exception):
    element: int
    position: int | None
    error: Any

class RowShape:
    kind: int
    target: Any
    name: str
    def __init__(self, kind: int, target: Any = ..., name: str = ...) -> None: ...

class StatementState:
    name: bytes
    query: str
    param_oids: tuple[int, ...]
    param_codecs: list[Any]
    columns: tuple[tuple[str, int], ...]
    column_codecs: list[Any]
    descriptor: Any
    record_class: Any
    row_shape: RowShape | None
    row_type: Any
    closed: bool
    def __init__(self, name: bytes, query: str) -> None: ...
    def write_bind(self, out: WriteBuffer, portal: bytes, args: Any) -> int: ...
    def unnamed_copy(self) -> StatementState: ...
    def write_batch(
        self, out: WriteBuffer, rows: Iterator[Any], first_element: int, max_bytes: int
    ) -> tuple[int, bool]: ...

def complete_waiters(proto: WireProtocol) -> None: ...
def queue_named_execute(
    proto: WireProtocol, state: StatementState, args: Any, limit: int, discard_rows: bool
) -> ExecuteOp: ...

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
    shares_sync: bool
    aborted: bool
    raw_rows: list[bytes] | None
    column_sinks: list[ColumnSink] | None
    sent_name: bytes | None
    @property
    def clean(self) -> bool: ...
    def decode_again(self) -> bool: ...
    def __init__(
        self, state: StatementState, discard_rows: bool = ..., shares_sync: bool = ...
    ) -> None: ...

# -- columnar results (columns.pxi) ----------------------------------------------

class ColumnSink:
    name: str
    kind: int
    dtype: str | None
    items: list[Any] | None
    count: int
    def packed_values(self) -> tuple[bytearray, bytearray | None]: ...

def column_sinks(state: StatementState, packed: bool) -> list[ColumnSink]: ...

# -- COPY (copy.pxi) --------------------------------------------------------------

class CopyRowError(Exception):
    row: int
    column: int | None
    error: BaseException
    def __init__(self, row: int, column: int | None, error: BaseException) -> None: ...

class CopyInOp(Operation):
    on_start: Callable[[CopyInOp], Any] | None
    copy_format: int
    column_count: int
    started: bool
    def __init__(self, on_start: Callable[[CopyInOp], Any] | None = ...) -> None: ...

class CopyOutOp(Operation):
    on_data: Callable[[CopyOutOp], Any] | None
    chunks: list[bytes]
    buffered: int
    high_water: int
    discard: bool
    copy_format: int
    column_count: int
    started: bool
    def __init__(
        self, on_data: Callable[[CopyOutOp], Any] | None = ..., high_water: int = ...
    ) -> None: ...
    def take(self) -> list[bytes]: ...

class CopyEncoder:
    row_count: int
    batch_bytes: int
    def __init__(self, codecs: list[Any], batch_bytes: int = ...) -> None: ...
    def write_header(self) -> None: ...
    def write_trailer(self) -> None: ...
    def write_raw(self, data: bytes | bytearray | memoryview) -> None: ...
    def __len__(self) -> int: ...
    def take(self) -> bytes: ...
    def add_row(self, row: Any) -> bool: ...
    def add_rows(self, iterator: Any) -> bool: ...

class CopyDecoder:
    finished: bool
    def __init__(self, codecs: list[Any]) -> None: ...
    def feed(self, chunk: bytes) -> list[tuple[Any, ...]]: ...
    def pending_bytes(self) -> int: ...
