/*
 * Declarations shared by the files of the pgjet._wire.record module only.
 * Consumers of the C API include record.h, never this file.
 */
#ifndef PGJET_RECORD_IMPL_H
#define PGJET_RECORD_IMPL_H

#define PY_SSIZE_T_CLEAN
#define PGJET_RECORD_MODULE
#include "record.h"

extern PyTypeObject PgjetRecord_Type;
extern PyTypeObject PgjetRecordDescriptor_Type;
extern PyTypeObject PgjetRecordValues_Type;
extern PyTypeObject PgjetRecordItems_Type;

/* The module's _reconstruct function, which pickled records call. */
extern PyObject *pgjet_record_reconstructor;

#define PgjetRecordDescriptor_CheckExact(op) Py_IS_TYPE((op), &PgjetRecordDescriptor_Type)
#define PgjetRecord_CheckAny(op) PyObject_TypeCheck((op), &PgjetRecord_Type)

/* descriptor.c */
PyObject *pgjet_descriptor_new(PyObject *names);
Py_ssize_t pgjet_descriptor_size(PyObject *desc);

/* record.c */
PyObject *pgjet_record_new(PyTypeObject *type, PyObject *desc, Py_ssize_t size);
int pgjet_record_finish(PyObject *record);
/* A finished record of type (NULL: pgjet.Record) holding the items of values. */
PyObject *pgjet_record_from_values(PyTypeObject *type, PyObject *desc, PyObject *values);
/* Why cls cannot be a record_class (asyncpg's rules and wording) as str, or None. */
PyObject *pgjet_record_class_error(PyObject *cls);

#endif /* PGJET_RECORD_IMPL_H */
