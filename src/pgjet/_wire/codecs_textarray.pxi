# Arrays of types without a binary codec (regclass[], money[], tsvector[], ...):
# exchanged in text format and split into nested lists of str, as asyncpg does
# (included by codecs.pyx).
#
# The server writes `{a,"b c",NULL}`: elements separated by the element type's
# delimiter, double-quoted when they hold special characters (inside quotes `\`
# escapes the next character), NULL unquoted, and a `[lo:hi]=` prefix when a
# lower bound is not 1 (dropped, as for binary arrays).


cdef class _TextArrayParser:
    cdef str text
    cdef Py_ssize_t pos
    cdef Py_UCS4 delim
    cdef str typname

    cdef object fail(self, str detail):
        return _malformed(self.typname, f"{detail} at offset {self.pos} of {self.text[:80]!r}")

    cdef list level(self, int depth):
        cdef list items = []
        cdef Py_UCS4 c
        if depth > ARRAY_MAXDIM:
            raise self.fail(f"more than {ARRAY_MAXDIM} dimensions")
        self.pos += 1   # the opening brace
        if self.pos < len(self.text) and self.text[self.pos] == "}":
            self.pos += 1
            return items
        while True:
            if self.pos >= len(self.text):
                raise self.fail("unterminated array")
            c = self.text[self.pos]
            if c == "{":
                items.append(self.level(depth + 1))
            elif c == '"':
                items.append(self.quoted())
            else:
                items.append(self.unquoted())
            if self.pos >= len(self.text):
                raise self.fail("unterminated array")
            c = self.text[self.pos]
            self.pos += 1
            if c == "}":
                return items
            if c != self.delim:
                raise self.fail(f"unexpected {c!r}")

    cdef str quoted(self):
        cdef list parts = []
        cdef Py_ssize_t start
        self.pos += 1
        start = self.pos
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == '"':
                parts.append(self.text[start:self.pos])
                self.pos += 1
                return "".join(parts)
            if c == "\\":
                parts.append(self.text[start:self.pos])
                self.pos += 1
                start = self.pos
            self.pos += 1
        raise self.fail("unterminated quoted element")

    cdef object unquoted(self):
        cdef Py_ssize_t start = self.pos
        cdef Py_UCS4 c
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == self.delim or c == "}":
                break
            if c == "{" or c == '"' or c == "\\":
                raise self.fail(f"unexpected {c!r}")
            self.pos += 1
        token = self.text[start:self.pos]
        if not token:
            raise self.fail("empty element")
        if token.upper() == "NULL":
            return None
        return token


cdef str _quote_element(object value, str typname):
    if not PyUnicode_Check(value):
        raise TypeError(f"{typname} has no binary codec, so its elements are sent as text "
                        f"and need a str; got {_type_name(value)}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@cython.final
cdef class TextArrayCodec(Codec):
    cdef str delimiter

    cdef object decode(self, const char* data, Py_ssize_t length):
        cdef _TextArrayParser parser = _TextArrayParser()
        parser.text = PyUnicode_DecodeUTF8(data, length, NULL)
        parser.pos = 0
        parser.delim = self.delimiter[0]
        parser.typname = self.name
        if parser.text.startswith("["):
            parser.pos = parser.text.find("=") + 1
            if parser.pos == 0:
                raise parser.fail("dimension decoration without '='")
        if parser.pos >= len(parser.text) or parser.text[parser.pos] != "{":
            raise parser.fail("expected '{'")
        result = parser.level(1)
        if parser.pos != len(parser.text):
            raise parser.fail("trailing characters")
        return result

    cdef int encode(self, WriteBuffer buf, object value) except -1:
        if not _is_container(value):
            raise TypeError(f"expected a list (or another sized iterable) for {self.name}, "
                            f"got {_type_name(value)}")
        shape = []
        level = value
        while True:
            level = _as_sequence(level)
            shape.append(len(level))
            if len(shape) > ARRAY_MAXDIM:
                raise ValueError(f"{self.name} value has more than {ARRAY_MAXDIM} dimensions")
            if not level or level[0] is None or not _is_container(level[0]):
                break
            level = level[0]
        if 0 in shape:
            text = "{}"
        else:
            try:
                text = self._literal(value, shape, 0, "")
            except _RaggedArray as exc:
                raise ValueError(f"{self.name} value is ragged: {exc}") from None
        return _write_text(buf, text, self.name)

    cdef str _literal(self, object value, list shape, int depth, str path):
        seq = _as_sequence(value)
        if len(seq) != shape[depth]:
            raise _RaggedArray(f"the sub-array at {path} has {len(seq)} elements, the first "
                               f"one at its depth has {shape[depth]}")
        parts = []
        for i, item in enumerate(seq):
            where = f"{path}[{i}]"
            if depth < len(shape) - 1:
                if item is None or not _is_container(item):
                    raise _RaggedArray(f"{where} is {item!r}, where a sub-array was expected")
                parts.append(self._literal(item, shape, depth + 1, where))
            elif item is None:
                parts.append("NULL")
            elif PyList_Check(item) or PyTuple_Check(item):
                raise _RaggedArray(f"{where} is a sub-array, where a value was expected")
            else:
                try:
                    parts.append(_quote_element(item, self.name))
                except TypeError as exc:
                    raise TypeError(f"invalid array element {where}: {exc}") from None
        return "{" + self.delimiter.join(parts) + "}"
