"""Rows of text-format COPY data (default delimiter and NULL marker) as tuples of str."""

from __future__ import annotations

_ESCAPES = {
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
    ord("\\"): b"\\",
}


def text_row(line: bytes) -> tuple[str | None, ...]:
    """One line of text-format COPY (default delimiter and NULL marker)."""
    return tuple(None if f == b"\\N" else _unescape(f) for f in line.split(b"\t"))


def _unescape(field: bytes) -> str:
    if b"\\" not in field:
        return field.decode("utf-8")
    out = bytearray()
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        if c != 0x5C or i + 1 == n:
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif 0x30 <= nxt <= 0x37:
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= field[j] <= 0x37:
                j += 1
            out.append(int(field[i + 1 : j], 8) & 0xFF)
            i = j
        elif nxt == ord("x") and i + 2 < n and field[i + 2 : i + 3] in b"0123456789abcdefABCDEF":
            j = i + 2
            while j < n and j < i + 4 and field[j : j + 1] in b"0123456789abcdefABCDEF":
                j += 1
            out.append(int(field[i + 2 : j], 16))
            i = j
        else:
            out.append(nxt)
            i += 2
    return out.decode("utf-8")
