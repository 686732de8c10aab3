"""Record: a result row, indexable by position and by column name.

This is the interim pure-Python Record; the query-engine work replaces it with
a compiled one sharing a per-statement name table (DESIGN.md §2).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload


class Record:
    """A read-only row: ``row[0]``, ``row["name"]``, ``row.get("name")``."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = tuple(values)

    @overload
    def __getitem__(self, key: int | str) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._names[key]]
            except KeyError:
                raise KeyError(key) from None
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        index = self._names.get(key)
        return default if index is None else self._values[index]

    def keys(self) -> Iterator[str]:
        return iter(self._names)

    def values(self) -> Iterator[Any]:
        return iter(self._values)

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((name, self._values[i]) for name, i in self._names.items())

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self._values == other._values
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        fields = " ".join(f"{name}={value!r}" for name, value in self.items())
        return f"<Record {fields}>" if fields else "<Record>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Record, (self._names, self._values))
