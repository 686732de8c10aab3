"""Column sinks -> numpy arrays, for Connection.fetch_numpy().

numpy is optional: it is imported when fetch_numpy() is first called, and a
missing numpy is reported before the query is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgjet import errors

if TYPE_CHECKING:
    from types import ModuleType

    import numpy.typing as npt

    from pgjet._wire.core import ColumnSink


def import_numpy() -> ModuleType:
    """numpy, or an InterfaceError saying how to get it."""
    try:
        import numpy
    except ImportError as exc:
        raise errors.InterfaceError(
            "fetch_numpy() needs numpy: pip install numpy (or pgjet[numpy])"
        ) from exc
    return numpy


def sink_to_array(numpy: ModuleType, sink: ColumnSink) -> npt.NDArray[Any]:
    """One column as an array that shares the decoded bytes (no copy).

    Packed columns with a NULL become a numpy.ma.MaskedArray (an ndarray
    subclass) masked where the value is NULL; other columns are arrays of
    Python objects, with None for NULL.
    """
    if sink.dtype is None:
        # fromiter, not array(): a value that is itself a sequence (an array
        # column) must stay one object, not become another dimension.
        return numpy.fromiter(sink.items, dtype=object, count=sink.count)  # type: ignore[no-any-return]
    values, nulls = sink.packed_values()
    data = numpy.frombuffer(values, dtype=numpy.dtype(sink.dtype))
    if nulls is None:
        return data  # type: ignore[no-any-return]
    return numpy.ma.MaskedArray(data, mask=numpy.frombuffer(nulls, dtype=bool))  # type: ignore[no-any-return]
