/*
 * pgjet Record: the C API that the compiled wire core uses to build rows.
 *
 * The Record and RecordDescriptor types live in ONE extension module,
 * pgjet._wire.record (built from record.c in this directory). Other extension
 * modules never link record.c; they reach the types through a PyCapsule named
 * "pgjet._wire.record._C_API" that holds a PgjetRecord_CAPI table:
 *
 *     #include "record.h"            (Cython: cimport pgjet._wire.record)
 *     PgjetRecord_Import()           once at module init; returns -1 on error
 *
 *     rec = PgjetRecord_New(type, desc, n)   record with n NULL items, untracked
 *     PgjetRecord_SET_ITEM(rec, i, value)    steals a reference to value
 *     PgjetRecord_Finish(rec)                every item set? then GC-track the
 *                                            record only if an item can be part
 *                                            of a reference cycle; -1 on error
 *
 * Cython modules use the wrappers in src/pgjet/_wire/record.pxd instead
 * (import_record_api, new_record, record_set_item, record_finish); that .pxd
 * adds this directory to the C include path of every extension cimporting it,
 * relative to the repository root, where setup.py runs.
 *
 * A record must not be handed to Python code before PgjetRecord_Finish
 * succeeded. PgjetRecord_New checks its arguments (type must be pgjet.Record or
 * a subclass of it, or NULL for pgjet.Record; desc must be a RecordDescriptor
 * with exactly n names), so the per-row cost is one allocation and two pointer
 * compares. Each consumer translation unit keeps its own copy of the table
 * pointer; PgjetRecord_New imports it lazily if PgjetRecord_Import was not
 * called, so forgetting the import costs speed, never memory safety.
 */
#ifndef PGJET_RECORD_H
#define PGJET_RECORD_H

#include <Python.h>

#define PGJET_RECORD_MODULE_NAME "pgjet._wire.record"
#define PGJET_RECORD_CAPSULE_NAME PGJET_RECORD_MODULE_NAME "._C_API"
/* Bumped whenever the struct layouts or the table below change. */
#define PGJET_RECORD_ABI_VERSION 1

typedef struct {
    PyObject_VAR_HEAD
    PyObject *desc;       /* PgjetRecordDescriptorObject, shared by a result's rows */
    PyObject *ob_item[1]; /* Py_SIZE(record) values, inline like a tuple's */
} PgjetRecordObject;

typedef struct {
    PyObject_HEAD
    PyObject *names; /* exact tuple of exact str, in column order */
    PyObject *index; /* dict: name -> position; a repeated name maps to its last column */
} PgjetRecordDescriptorObject;

typedef struct {
    unsigned int abi_version;
    PyTypeObject *record_type;
    PyTypeObject *descriptor_type;
    /* names: any iterable of str. New reference, or NULL with an exception. */
    PyObject *(*descriptor_new)(PyObject *names);
    PyObject *(*record_new)(PyTypeObject *type, PyObject *desc, Py_ssize_t size);
    int (*record_finish)(PyObject *record);
} PgjetRecord_CAPI;

#define PgjetRecord_SET_ITEM(rec, i, value) \
    (((PgjetRecordObject *)(rec))->ob_item[(i)] = (PyObject *)(value))
#define PgjetRecord_GET_ITEM(rec, i) (((PgjetRecordObject *)(rec))->ob_item[(i)])
#define PgjetRecord_GET_SIZE(rec) Py_SIZE(rec)

#ifndef PGJET_RECORD_MODULE /* what follows is for consumers, not for record.c */

#if defined(__GNUC__) || defined(__clang__)
#define PGJET_RECORD_UNUSED __attribute__((unused))
#else
#define PGJET_RECORD_UNUSED
#endif

static const PgjetRecord_CAPI *PgjetRecord_API PGJET_RECORD_UNUSED = NULL;

static inline int
PgjetRecord_Import(void)
{
    const PgjetRecord_CAPI *api;
    PyObject *module;
    if (PgjetRecord_API != NULL) {
        return 0;
    }
    /* PyCapsule_Import only walks attributes below the top-level package. */
    module = PyImport_ImportModule(PGJET_RECORD_MODULE_NAME);
    if (module == NULL) {
        return -1;
    }
    Py_DECREF(module);
    api = (const PgjetRecord_CAPI *)PyCapsule_Import(PGJET_RECORD_CAPSULE_NAME, 0);
    if (api == NULL) {
        return -1;
    }
    if (api->abi_version != PGJET_RECORD_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "pgjet._wire.record has C API version %u, this module was built "
                     "against version %u: rebuild pgjet",
                     api->abi_version, (unsigned int)PGJET_RECORD_ABI_VERSION);
        return -1;
    }
    PgjetRecord_API = api;
    return 0;
}

static inline PyObject *
PgjetRecord_New(PyTypeObject *type, PyObject *desc, Py_ssize_t size)
{
    if (PgjetRecord_API == NULL && PgjetRecord_Import() < 0) {
        return NULL;
    }
    return PgjetRecord_API->record_new(type, desc, size);
}

static inline int
PgjetRecord_Finish(PyObject *record)
{
    return PgjetRecord_API->record_finish(record);
}

static inline PyObject *
PgjetRecordDescriptor_New(PyObject *names)
{
    if (PgjetRecord_API == NULL && PgjetRecord_Import() < 0) {
        return NULL;
    }
    return PgjetRecord_API->descriptor_new(names);
}

/* False until the API was imported (by PgjetRecord_Import or a first PgjetRecord_New). */
static inline int
PgjetRecord_Check(PyObject *obj)
{
    return PgjetRecord_API != NULL && PyObject_TypeCheck(obj, PgjetRecord_API->record_type);
}

#endif /* PGJET_RECORD_MODULE */
#endif /* PGJET_RECORD_H */
