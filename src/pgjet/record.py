"""Record: a result row, indexable by position and by column name (compiled, C).

See src/pgjet/_wire/record/ for the implementation; rows of atomic values are
not tracked by the cyclic GC, and one name table is shared by all rows of a
statement.
"""

from pgjet._wire.record import Record, RecordDescriptor, record_class_error

__all__ = ["Record", "RecordDescriptor", "record_class_error"]
