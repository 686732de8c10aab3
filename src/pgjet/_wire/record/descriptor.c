/*
 * RecordDescriptor: the column names of one result shape, shared by all of its
 * rows. It holds only an exact tuple of exact str and a dict of str -> int, so
 * it can never be part of a reference cycle: it needs no cyclic GC support and
 * rows that reference it may stay untracked.
 */
#include "record_impl.h"

#define DESC(op) ((PgjetRecordDescriptorObject *)(op))

PyObject *
pgjet_descriptor_new(PyObject *names_arg)
{
    PyObject *given, *names = NULL, *index = NULL;
    PgjetRecordDescriptorObject *desc;
    Py_ssize_t i, n;

    if (PyUnicode_Check(names_arg) || PyBytes_Check(names_arg)) {
        /* A lone string is a sequence of characters: never what the caller meant. */
        PyErr_Format(PyExc_TypeError, "column names must be a sequence of str, not %.200s",
                     Py_TYPE(names_arg)->tp_name);
        return NULL;
    }
    given = PySequence_Tuple(names_arg);
    if (given == NULL) {
        return NULL;
    }
    n = PyTuple_GET_SIZE(given);
    names = PyTuple_New(n);
    index = PyDict_New();
    if (names == NULL || index == NULL) {
        goto error;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(given, i), *name, *position;
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "column name at position %zd must be str, not %.200s",
                         i, Py_TYPE(item)->tp_name);
            goto error;
        }
        /* A str subclass could carry a __dict__; keep only plain str. */
        name = PyUnicode_CheckExact(item) ? Py_NewRef(item) : PyUnicode_FromObject(item);
        if (name == NULL) {
            goto error;
        }
        PyTuple_SET_ITEM(names, i, name);
        position = PyLong_FromSsize_t(i);
        if (position == NULL) {
            goto error;
        }
        /* A repeated name ends up mapped to its last column, as in asyncpg. */
        if (PyDict_SetItem(index, name, position) < 0) {
            Py_DECREF(position);
            goto error;
        }
        Py_DECREF(position);
    }
    Py_CLEAR(given);
    if (PyObject_GC_IsTracked(names)) {
        PyObject_GC_UnTrack(names); /* only str inside */
    }
    desc = PyObject_New(PgjetRecordDescriptorObject, &PgjetRecordDescriptor_Type);
    if (desc == NULL) {
        goto error;
    }
    desc->names = names;
    desc->index = index;
    return (PyObject *)desc;

error:
    Py_XDECREF(given);
    Py_XDECREF(names);
    Py_XDECREF(index);
    return NULL;
}

Py_ssize_t
pgjet_descriptor_size(PyObject *desc)
{
    return PyTuple_GET_SIZE(DESC(desc)->names);
}

static PyObject *
descriptor_tp_new(PyTypeObject *Py_UNUSED(type), PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"names", NULL};
    PyObject *names;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:RecordDescriptor", kwlist, &names)) {
        return NULL;
    }
    return pgjet_descriptor_new(names);
}

static void
descriptor_dealloc(PyObject *op)
{
    Py_XDECREF(DESC(op)->names);
    Py_XDECREF(DESC(op)->index);
    PyObject_Free(op);
}

static Py_ssize_t
descriptor_length(PyObject *op)
{
    return PyTuple_GET_SIZE(DESC(op)->names);
}

static PyObject *
descriptor_repr(PyObject *op)
{
    return PyUnicode_FromFormat("RecordDescriptor(%R)", DESC(op)->names);
}

static PyObject *
descriptor_get_names(PyObject *op, void *Py_UNUSED(closure))
{
    return Py_NewRef(DESC(op)->names);
}

static PyObject *
descriptor_make(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"values", "record_class", NULL};
    PyObject *values, *record_class = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:make", kwlist, &values, &record_class)) {
        return NULL;
    }
    if (record_class != Py_None && !PyType_Check(record_class)) {
        PyErr_Format(PyExc_TypeError, "record_class must be a subclass of pgjet.Record, not %R",
                     record_class);
        return NULL;
    }
    return pgjet_record_from_values(
        record_class == Py_None ? NULL : (PyTypeObject *)record_class, op, values);
}

static PyObject *
descriptor_reduce(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("O(O)", (PyObject *)Py_TYPE(op), DESC(op)->names);
}

/* Immutable: copies may share it, which keeps rows sharing one descriptor. */
static PyObject *
descriptor_copy(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(op);
}

static PyObject *
descriptor_deepcopy(PyObject *op, PyObject *Py_UNUSED(memo))
{
    return Py_NewRef(op);
}

static PyMethodDef descriptor_methods[] = {
    {"make", (PyCFunction)(void (*)(void))descriptor_make, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("make($self, /, values, record_class=None)\n--\n\n"
               "A record of these columns holding values (one per column).")},
    {"__reduce__", descriptor_reduce, METH_NOARGS, NULL},
    {"__copy__", descriptor_copy, METH_NOARGS, NULL},
    {"__deepcopy__", descriptor_deepcopy, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef descriptor_getset[] = {
    {"names", descriptor_get_names, NULL, PyDoc_STR("The column names, in column order."),
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods descriptor_as_sequence = {
    .sq_length = descriptor_length,
};

PyTypeObject PgjetRecordDescriptor_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pgjet._wire.record.RecordDescriptor",
    .tp_basicsize = sizeof(PgjetRecordDescriptorObject),
    .tp_dealloc = descriptor_dealloc,
    .tp_repr = descriptor_repr,
    .tp_as_sequence = &descriptor_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("RecordDescriptor(names)\n--\n\n"
                        "The column names shared by every row of one result shape."),
    .tp_methods = descriptor_methods,
    .tp_getset = descriptor_getset,
    .tp_new = descriptor_tp_new,
};
