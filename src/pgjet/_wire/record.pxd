# The compiled Record's C API for Cython modules (see record/record.h).
#
#     from pgjet._wire.record cimport import_record_api, new_record, record_set_item, record_finish
#     import_record_api()          # once, at module level
#
#     rec = new_record(record_class, descriptor, ncols)   # record_class None: pgjet.Record
#     for i in range(ncols):
#         record_set_item(rec, i, value)                   # borrows value (takes its own ref)
#     record_finish(rec)                                   # before anyone else sees rec
#
# The C compiler finds the header through the include directory below, which
# Cython passes on to every extension that cimports this file.
#
# distutils: include_dirs = src/pgjet/_wire/record

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF


cdef extern from "record.h":
    ctypedef struct PgjetRecordObject:
        pass

    # -1 with ImportError when pgjet._wire.record is missing or was built apart.
    int PgjetRecord_Import() except -1
    # New record with size NULL items, untracked; checks type and descriptor.
    object PgjetRecord_New(PyTypeObject* record_class, object desc, Py_ssize_t size)
    # Steals a reference to value; no checks: i must be in range and unset.
    void PgjetRecord_SET_ITEM(object record, Py_ssize_t i, PyObject* value)
    PyObject* PgjetRecord_GET_ITEM(object record, Py_ssize_t i)
    # -1 (SystemError) when an item was never set; GC-tracks the record if needed.
    int PgjetRecord_Finish(object record) except -1
    object PgjetRecordDescriptor_New(object names)
    bint PgjetRecord_Check(object obj)


cdef inline int import_record_api() except -1:
    return PgjetRecord_Import()


cdef inline object new_record(object record_class, object desc, Py_ssize_t size):
    if record_class is None:
        return PgjetRecord_New(NULL, desc, size)
    return PgjetRecord_New(<PyTypeObject*>record_class, desc, size)


cdef inline void record_set_item(object record, Py_ssize_t i, object value) noexcept:
    Py_INCREF(value)
    PgjetRecord_SET_ITEM(record, i, <PyObject*>value)


cdef inline int record_finish(object record) except -1:
    return PgjetRecord_Finish(record)
