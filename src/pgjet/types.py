"""Python value types for PostgreSQL types that have no natural builtin equivalent.

They behave as asyncpg's (``asyncpg.types``), so code written for asyncpg keeps
working: ranges (:class:`Range`; a multirange is a ``list`` of them, as in
asyncpg), bit strings (:class:`BitString`) and the geometric types
(:class:`Point`, :class:`Box`, :class:`Line`, :class:`LineSegment`, :class:`Path`,
:class:`Polygon`, :class:`Circle`).

``Type``, ``Attribute`` and ``ServerVersion`` are reachable here too, as in
``asyncpg.types``; they live with the code that produces them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Protocol,
    SupportsFloat,
    SupportsIndex,
    TypeVar,
    overload,
)

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

if TYPE_CHECKING:
    from pgjet.connection import ServerVersion
    from pgjet.prepared import Attribute, Type

__all__ = [
    "INFINITY",
    "NEG_INFINITY",
    "Attribute",
    "BitString",
    "Box",
    "Circle",
    "DateTimeMapping",
    "InfinitySentinel",
    "Line",
    "LineSegment",
    "Path",
    "Point",
    "Polygon",
    "Range",
    "ServerVersion",
    "Type",
]

_LAZY = {
    "Type": "pgjet.prepared",
    "Attribute": "pgjet.prepared",
    "ServerVersion": "pgjet.connection",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: those modules pull in the compiled core, which itself
    # imports this module for its value types.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


# -- ranges --------------------------------------------------------------------------------


class _Comparable(Protocol):
    def __eq__(self, other: object, /) -> bool: ...
    def __lt__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...


_T = TypeVar("_T", bound=_Comparable)


class Range(Generic[_T]):
    """An immutable PostgreSQL range: ``[lower, upper)`` by default.

    A bound of ``None`` is infinite (and never inclusive). ``Range(empty=True)``
    is the empty range, which has no bounds at all.
    """

    __slots__ = ("_empty", "_lower", "_lower_inc", "_upper", "_upper_inc")

    _lower: _T | None
    _upper: _T | None
    _lower_inc: bool
    _upper_inc: bool
    _empty: bool

    def __init__(
        self,
        lower: _T | None = None,
        upper: _T | None = None,
        *,
        lower_inc: bool = True,
        upper_inc: bool = False,
        empty: bool = False,
    ) -> None:
        self._empty = bool(empty)
        if empty:
            self._lower = self._upper = None
            self._lower_inc = self._upper_inc = False
        else:
            self._lower = lower
            self._upper = upper
            self._lower_inc = lower is not None and bool(lower_inc)
            self._upper_inc = upper is not None and bool(upper_inc)

    @property
    def lower(self) -> _T | None:
        return self._lower

    @property
    def upper(self) -> _T | None:
        return self._upper

    @property
    def lower_inc(self) -> bool:
        return self._lower_inc

    @property
    def upper_inc(self) -> bool:
        return self._upper_inc

    @property
    def lower_inf(self) -> bool:
        return self._lower is None and not self._empty

    @property
    def upper_inf(self) -> bool:
        return self._upper is None and not self._empty

    @property
    def isempty(self) -> bool:
        return self._empty

    def _lower_within(self, other: Range[_T]) -> bool:
        if other._lower is None:
            return True
        if self._lower is None:
            return False
        return self._lower > other._lower or (
            self._lower == other._lower and (other._lower_inc or not self._lower_inc)
        )

    def _upper_within(self, other: Range[_T]) -> bool:
        if other._upper is None:
            return True
        if self._upper is None:
            return False
        return self._upper < other._upper or (
            self._upper == other._upper and (other._upper_inc or not self._upper_inc)
        )

    def issubset(self, other: Range[_T]) -> bool:
        """Whether every value in this range is in ``other`` (the empty range: always)."""
        if self._empty:
            return True
        if other._empty:
            return False
        return self._lower_within(other) and self._upper_within(other)

    def issuperset(self, other: Range[_T]) -> bool:
        return other.issubset(self)

    def _key(self) -> tuple[object, object, bool, bool, bool]:
        return (self._lower, self._upper, self._lower_inc, self._upper_inc, self._empty)

    def __bool__(self) -> bool:
        return not self._empty

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self._empty:
            return "<Range empty>"
        opening = "[" if self._lower_inc else "("
        closing = "]" if self._upper_inc else ")"
        lower = "" if self._lower is None else repr(self._lower)
        upper = "" if self._upper is None else repr(self._upper)
        return f"<Range {opening}{lower}, {upper}{closing}>"

    __str__ = __repr__


# -- bit strings -----------------------------------------------------------------------------


class BitString:
    """An immutable string of bits, for PostgreSQL's ``bit`` and ``varbit``.

    ``BitString("1010 1")`` reads ``0``/``1`` characters (spaces are ignored);
    ``BitString.frombytes(data, bitlength)`` takes the packed form, most
    significant bit first.
    """

    __slots__ = ("_bitlength", "_bytes")

    _bytes: bytes
    _bitlength: int

    def __init__(self, bitstring: str | None = None) -> None:
        bits = 0
        count = 0
        for i, char in enumerate(bitstring or ""):
            if char == " ":
                continue
            if char not in ("0", "1"):
                raise ValueError(f"invalid bit value {char!r} at position {i}")
            bits = (bits << 1) | (char == "1")
            count += 1
        pad = -count % 8
        self._bytes = (bits << pad).to_bytes((count + 7) // 8, "big")
        self._bitlength = count

    @classmethod
    def frombytes(cls, bytes_: bytes | None = None, bitlength: int | None = None) -> Self:
        """A bit string of ``bitlength`` bits (default: all of them) taken from ``bytes_``.

        Bits past ``bitlength`` in the last byte are ignored.
        """
        data = b"" if bytes_ is None else bytes(bytes_)
        if bitlength is None:
            bitlength = len(data) * 8
        elif bytes_ is None:
            data = bytes((bitlength + 7) // 8)
        if bitlength < 0 or (bitlength + 7) // 8 != len(data):
            raise ValueError(
                f"invalid bit length {bitlength} for {len(data)} bytes "
                f"(needs {max(len(data) * 8 - 7, 0)}..{len(data) * 8})"
            )
        pad = -bitlength % 8
        if pad and data[-1] & ((1 << pad) - 1):
            data = data[:-1] + bytes([data[-1] & (0xFF << pad) & 0xFF])
        result = cls.__new__(cls)
        result._bytes = data
        result._bitlength = bitlength
        return result

    @property
    def bytes(self) -> bytes:
        """The bits packed most significant first; unused trailing bits are zero."""
        return self._bytes

    def as_string(self) -> str:
        """The bits as ``0``/``1`` characters, in groups of four separated by spaces."""
        text = "".join(str(self._bit(i)) for i in range(self._bitlength))
        return " ".join(text[i : i + 4] for i in range(0, len(text), 4))

    def to_int(self, bitorder: Literal["big", "little"] = "big", *, signed: bool = False) -> int:
        """The bits as an int (``bitorder="big"``: the first bit is the most significant)."""
        value = int.from_bytes(self._bytes, "big") >> (-self._bitlength % 8)
        if bitorder == "little":
            value = _reverse_bits(value, self._bitlength)
        elif bitorder != "big":
            raise ValueError("bitorder must be either 'big' or 'little'")
        if signed and self._bitlength and value >> (self._bitlength - 1):
            value -= 1 << self._bitlength
        return value

    @classmethod
    def from_int(
        cls,
        x: int,
        length: int,
        bitorder: Literal["big", "little"] = "big",
        *,
        signed: bool = False,
    ) -> Self:
        """``length`` bits representing ``x`` (two's complement if ``signed``)."""
        if length < 0:
            raise ValueError("length argument must be non-negative")
        if x.bit_length() > length:
            raise OverflowError("int too big to convert")
        if x < 0:
            if not signed:
                raise OverflowError("can't convert negative int to unsigned")
            x &= (1 << length) - 1
        if bitorder == "little":
            x = _reverse_bits(x, length)
        elif bitorder != "big":
            raise ValueError("bitorder must be either 'big' or 'little'")
        return cls.frombytes((x << (-length % 8)).to_bytes((length + 7) // 8, "big"), length)

    def _bit(self, i: int) -> int:
        return (self._bytes[i // 8] >> (7 - i % 8)) & 1

    def __getitem__(self, i: int) -> int:
        if isinstance(i, slice):
            raise NotImplementedError("BitString does not support slices")
        if i < 0:
            i += self._bitlength
        if not 0 <= i < self._bitlength:
            raise IndexError("index out of range")
        return self._bit(i)

    def __len__(self) -> int:
        return self._bitlength

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BitString):
            return NotImplemented
        return self._bitlength == other._bitlength and self._bytes == other._bytes

    def __hash__(self) -> int:
        return hash((self._bytes, self._bitlength))

    def __repr__(self) -> str:
        return f"<BitString {self.as_string()}>"

    __str__ = __repr__


def _reverse_bits(value: int, length: int) -> int:
    return int(format(value, f"0{length}b")[::-1], 2) if length else 0


# -- geometry ------------------------------------------------------------------------------

_Coordinate = SupportsFloat | SupportsIndex | str | bytes | bytearray


class Point(tuple[float, float]):
    """A point ``(x, y)``."""

    __slots__ = ()

    def __new__(cls, x: _Coordinate, y: _Coordinate) -> Self:
        return super().__new__(cls, (float(x), float(y)))

    @property
    def x(self) -> float:
        return self[0]

    @property
    def y(self) -> float:
        return self[1]

    def __repr__(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}({tuple.__repr__(self)})"


def _point(value: Sequence[float]) -> Point:
    return value if isinstance(value, Point) else Point(*value)


class Box(tuple[Point, Point]):
    """A box given by two opposite corners (PostgreSQL stores the upper right first)."""

    __slots__ = ()

    def __new__(cls, high: Sequence[float], low: Sequence[float]) -> Self:
        return super().__new__(cls, (_point(high), _point(low)))

    @property
    def high(self) -> Point:
        return self[0]

    @property
    def low(self) -> Point:
        return self[1]

    def __repr__(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}({tuple.__repr__(self)})"


class Line(tuple[float, float, float]):
    """The infinite line ``A*x + B*y + C = 0``."""

    __slots__ = ()

    def __new__(cls, A: SupportsFloat, B: SupportsFloat, C: SupportsFloat) -> Self:
        return super().__new__(cls, (float(A), float(B), float(C)))

    @property
    def A(self) -> float:
        return self[0]

    @property
    def B(self) -> float:
        return self[1]

    @property
    def C(self) -> float:
        return self[2]


class LineSegment(tuple[Point, Point]):
    """A line segment from ``p1`` to ``p2``."""

    __slots__ = ()

    def __new__(cls, p1: Sequence[float], p2: Sequence[float]) -> Self:
        return super().__new__(cls, (_point(p1), _point(p2)))

    @property
    def p1(self) -> Point:
        return self[0]

    @property
    def p2(self) -> Point:
        return self[1]

    def __repr__(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}({tuple.__repr__(self)})"


class Path:
    """A path through ``points``: open, or closed (back to its first point)."""

    __slots__ = ("_is_closed", "points")

    points: tuple[Point, ...]

    def __init__(self, *points: Sequence[float], is_closed: bool = False) -> None:
        self.points = tuple(_point(p) for p in points)
        self._is_closed = bool(is_closed)

    @property
    def is_closed(self) -> bool:
        return self._is_closed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Path):
            return NotImplemented
        return self.points == other.points and self._is_closed == other._is_closed

    def __hash__(self) -> int:
        return hash((self.points, self._is_closed))

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    @overload
    def __getitem__(self, i: SupportsIndex) -> Point: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Point, ...]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> Point | tuple[Point, ...]:
        return self.points[i]

    def __contains__(self, point: object) -> bool:
        return point in self.points

    def __repr__(self) -> str:
        closed = ", is_closed=True" if self._is_closed and type(self) is Path else ""
        points = ", ".join(tuple.__repr__(p) for p in self.points)
        return f"{type(self).__module__}.{type(self).__name__}({points}{closed})"


class Polygon(Path):
    """A polygon: a closed path."""

    __slots__ = ()

    def __init__(self, *points: Sequence[float]) -> None:
        super().__init__(*points, is_closed=True)


class Circle(tuple[Point, float]):
    """A circle around ``center``."""

    __slots__ = ()

    def __new__(cls, center: Sequence[float], radius: SupportsFloat) -> Self:
        return super().__new__(cls, (_point(center), float(radius)))

    @property
    def center(self) -> Point:
        return self[0]

    @property
    def radius(self) -> float:
        return self[1]


# -- ±infinity dates and timestamps -------------------------------------------------------


class InfinitySentinel:
    """A marker for PostgreSQL's 'infinity' or '-infinity' date/timestamp."""

    __slots__ = ("_positive",)

    def __init__(self, positive: bool) -> None:
        self._positive = positive

    @property
    def positive(self) -> bool:
        return self._positive

    def __repr__(self) -> str:
        return "pgjet.types.INFINITY" if self._positive else "pgjet.types.NEG_INFINITY"

    def __reduce__(self) -> str:
        return "INFINITY" if self._positive else "NEG_INFINITY"


INFINITY = InfinitySentinel(True)
NEG_INFINITY = InfinitySentinel(False)

_INFINITY_CHOICES = ("asyncpg", "raise")
_OUT_OF_RANGE_CHOICES = ("raise", "infinity")


@dataclass(frozen=True)
class DateTimeMapping:
    """How date, timestamp and timestamptz values Python cannot hold are mapped.

    ``infinity``:

    - ``'asyncpg'`` (the default): ``'infinity'`` decodes to ``date.max`` /
      ``datetime.max``, ``'-infinity'`` to ``date.min`` / ``datetime.min`` (naive,
      for timestamptz too), and those values encode back to ±infinity;
    - ``'raise'``: decoding ±infinity raises ``ValueError``; ``date.max`` and
      ``datetime.max`` are ordinary values (9999-12-31...);
    - a pair ``(negative, positive)`` of objects, e.g. ``(NEG_INFINITY,
      INFINITY)``: decoding returns them, encoding them sends ±infinity, and
      ``date.max`` is an ordinary value.

    ``out_of_range`` (years before 1 or after 9999, e.g. ``'5874897-12-31'`` or
    ``'4713-01-01 BC'``): ``'raise'`` (the default) raises ``ValueError`` naming
    the value; ``'infinity'`` decodes them as ±infinity would (lossy: they do
    not come back as the same value).
    """

    infinity: str | tuple[Any, Any] = "asyncpg"
    out_of_range: str = "raise"

    def __post_init__(self) -> None:
        inf = self.infinity
        if isinstance(inf, tuple):
            if len(inf) != 2:
                raise ValueError(
                    f"infinity takes a pair (negative, positive), got {len(inf)} values"
                )
            if inf[0] is None or inf[1] is None:
                raise ValueError("infinity sentinels cannot be None (None is SQL NULL)")
            if inf[0] is inf[1] or _same(inf[0], inf[1]):
                raise ValueError(f"the two infinity sentinels must differ, got {inf!r}")
        elif not isinstance(inf, str) or inf not in _INFINITY_CHOICES:
            raise ValueError(
                f"infinity must be 'asyncpg', 'raise' or a pair (negative, positive), got {inf!r}"
            )
        if self.out_of_range not in _OUT_OF_RANGE_CHOICES:
            raise ValueError(
                f"out_of_range must be 'raise' or 'infinity', got {self.out_of_range!r}"
            )
        if self.out_of_range == "infinity" and inf == "raise":
            raise ValueError("out_of_range='infinity' needs an infinity mapping other than 'raise'")

    @property
    def is_default(self) -> bool:
        return self.infinity == "asyncpg" and self.out_of_range == "raise"


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False
