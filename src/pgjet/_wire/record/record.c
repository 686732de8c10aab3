/*
 * pgjet.Record: a result row. Tuple-like (values inline, immutable), indexable
 * by position and by column name through a shared RecordDescriptor, and
 * behaving like asyncpg.Record.
 *
 * Rows whose values cannot take part in a reference cycle are left untracked
 * by the cyclic GC: on large results, tracked rows make every collection walk
 * them all, which costs more than decoding them.
 */
#include "record_impl.h"

#include <stddef.h>
#include <string.h>

#define RECORD(op) ((PgjetRecordObject *)(op))
#define DESC(op) ((PgjetRecordDescriptorObject *)(op))

/* Deeper nests of tuples/records are conservatively treated as cyclic. */
#define MAX_ATOMIC_DEPTH 8

/* Whether instances of tp are as immutable as the base type: no __dict__, no slots. */
static int
plain_record_type(PyTypeObject *tp)
{
    return tp->tp_dictoffset == 0 && tp->tp_basicsize == PgjetRecord_Type.tp_basicsize;
}

/* The part of a type's name after the module, as asyncpg shows it in repr(). */
static const char *
short_type_name(PyTypeObject *tp)
{
    const char *dot = strrchr(tp->tp_name, '.');
    return dot != NULL ? dot + 1 : tp->tp_name;
}

/* ---- construction ----------------------------------------------------- */

PyObject *
pgjet_record_new(PyTypeObject *type, PyObject *desc, Py_ssize_t size)
{
    PgjetRecordObject *rec;

    if (type == NULL) {
        type = &PgjetRecord_Type;
    }
    else if (type != &PgjetRecord_Type && !PyType_IsSubtype(type, &PgjetRecord_Type)) {
        PyErr_Format(PyExc_TypeError, "record_class must be a subclass of pgjet.Record, not %R",
                     (PyObject *)type);
        return NULL;
    }
    if (!PgjetRecordDescriptor_CheckExact(desc)) {
        PyErr_Format(PyExc_TypeError, "a record needs a RecordDescriptor, not %.200s",
                     Py_TYPE(desc)->tp_name);
        return NULL;
    }
    if (size != pgjet_descriptor_size(desc)) {
        PyErr_Format(PyExc_ValueError, "a record of %zd values cannot have the %zd columns %R",
                     size, pgjet_descriptor_size(desc), DESC(desc)->names);
        return NULL;
    }
    if (type == &PgjetRecord_Type) {
        rec = PyObject_GC_NewVar(PgjetRecordObject, type, size);
        if (rec == NULL) {
            return NULL;
        }
        memset(rec->ob_item, 0, (size_t)size * sizeof(PyObject *));
    }
    else {
        /* Subclasses may add a __dict__ after the items: let the type lay it out. */
        rec = (PgjetRecordObject *)type->tp_alloc(type, size);
        if (rec == NULL) {
            return NULL;
        }
        PyObject_GC_UnTrack(rec);
    }
    rec->desc = Py_NewRef(desc);
    return (PyObject *)rec;
}

/*
 * Whether obj could be part of a reference cycle, now or after some mutation.
 * Objects the cyclic GC does not manage cannot. An exact tuple or a plain
 * record cannot change, so one holding only such objects cannot either; when
 * it is still tracked it is untracked here, as CPython's collector would do on
 * its next pass anyway.
 */
static int
may_join_cycle(PyObject *obj, int depth)
{
    PyTypeObject *tp = Py_TYPE(obj);
    PyObject **items;
    Py_ssize_t i, n;

    if (!PyType_IS_GC(tp)) {
        return 0;
    }
    if (tp == &PyTuple_Type) {
        items = &PyTuple_GET_ITEM(obj, 0);
        n = PyTuple_GET_SIZE(obj);
    }
    else if (PyType_IsSubtype(tp, &PgjetRecord_Type) && plain_record_type(tp)) {
        items = RECORD(obj)->ob_item;
        n = Py_SIZE(obj);
    }
    else {
        return 1;
    }
    if (!PyObject_GC_IsTracked(obj)) {
        return 0;
    }
    if (depth >= MAX_ATOMIC_DEPTH) {
        return 1;
    }
    for (i = 0; i < n; i++) {
        if (items[i] == NULL || may_join_cycle(items[i], depth + 1)) {
            return 1;
        }
    }
    PyObject_GC_UnTrack(obj);
    return 0;
}

int
pgjet_record_finish(PyObject *op)
{
    PgjetRecordObject *rec = RECORD(op);
    Py_ssize_t i, n = Py_SIZE(op);
    int track = !plain_record_type(Py_TYPE(op));

    for (i = 0; i < n; i++) {
        PyObject *item = rec->ob_item[i];
        if (item == NULL) {
            PyErr_Format(PyExc_SystemError, "pgjet record value %zd of %zd was never set", i, n);
            return -1;
        }
        if (!track && may_join_cycle(item, 1)) {
            track = 1;
        }
    }
    if (track && !PyObject_GC_IsTracked(op)) {
        PyObject_GC_Track(op);
    }
    return 0;
}

PyObject *
pgjet_record_from_values(PyTypeObject *type, PyObject *desc, PyObject *values)
{
    PyObject *tuple, *rec;
    Py_ssize_t i, n;

    if (!PgjetRecordDescriptor_CheckExact(desc)) {
        PyErr_Format(PyExc_TypeError, "a record needs a RecordDescriptor, not %.200s",
                     Py_TYPE(desc)->tp_name);
        return NULL;
    }
    tuple = PySequence_Tuple(values);
    if (tuple == NULL) {
        return NULL;
    }
    n = PyTuple_GET_SIZE(tuple);
    if (n != pgjet_descriptor_size(desc)) {
        PyErr_Format(PyExc_ValueError, "%zd values given for the %zd columns %R", n,
                     pgjet_descriptor_size(desc), DESC(desc)->names);
        Py_DECREF(tuple);
        return NULL;
    }
    rec = pgjet_record_new(type, desc, n);
    if (rec == NULL) {
        Py_DECREF(tuple);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PgjetRecord_SET_ITEM(rec, i, Py_NewRef(PyTuple_GET_ITEM(tuple, i)));
    }
    Py_DECREF(tuple);
    if (pgjet_record_finish(rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    return rec;
}

PyObject *
pgjet_record_class_error(PyObject *cls)
{
    PyObject *base = (PyObject *)&PgjetRecord_Type;
    PyObject *mine, *theirs;
    int same;

    if (cls == base) {
        Py_RETURN_NONE;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PgjetRecord_Type)) {
        return PyUnicode_FromFormat(
            "record_class is expected to be a subclass of pgjet.Record, got %R", cls);
    }
    /* Rows are built without calling either; a class that relies on them would break. */
    mine = PyObject_GetAttrString(cls, "__new__");
    theirs = PyObject_GetAttrString(base, "__new__");
    same = mine != NULL && mine == theirs;
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    if (same) {
        mine = PyObject_GetAttrString(cls, "__init__");
        theirs = PyObject_GetAttrString(base, "__init__");
        same = mine != NULL && mine == theirs;
        Py_XDECREF(mine);
        Py_XDECREF(theirs);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (same) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString("record_class must not redefine __new__ or __init__");
}

/* ---- the type's slots -------------------------------------------------- */

static PyObject *
record_tp_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%.200s' instances: rows come from queries "
                 "(or from RecordDescriptor.make())",
                 type->tp_name);
    return NULL;
}

static void
record_dealloc(PyObject *op)
{
    Py_ssize_t i;

    PyObject_GC_UnTrack(op);
    Py_TRASHCAN_BEGIN(op, record_dealloc)
    for (i = Py_SIZE(op); --i >= 0;) {
        Py_XDECREF(RECORD(op)->ob_item[i]);
    }
    Py_XDECREF(RECORD(op)->desc);
    Py_TYPE(op)->tp_free(op);
    Py_TRASHCAN_END
}

static int
record_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_ssize_t i;

    /* The descriptor is not visited: it is not a GC object (see descriptor.c). */
    for (i = Py_SIZE(op); --i >= 0;) {
        Py_VISIT(RECORD(op)->ob_item[i]);
    }
    return 0;
}

static Py_ssize_t
record_length(PyObject *op)
{
    return Py_SIZE(op);
}

static PyObject *
record_item(PyObject *op, Py_ssize_t i)
{
    if (i < 0 || i >= Py_SIZE(op)) {
        PyErr_SetString(PyExc_IndexError, "record index out of range");
        return NULL;
    }
    return Py_NewRef(RECORD(op)->ob_item[i]);
}

/* The position of the column named key: -1 when there is none, -2 on error. */
static Py_ssize_t
record_position(PyObject *op, PyObject *key)
{
    PyObject *position = PyDict_GetItemWithError(DESC(RECORD(op)->desc)->index, key);

    if (position != NULL) {
        return PyLong_AsSsize_t(position);
    }
    if (!PyErr_Occurred()) {
        return -1;
    }
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear(); /* unhashable: no column has that name (asyncpg agrees) */
        return -1;
    }
    return -2;
}

static PyObject *
record_slice(PyObject *op, PyObject *slice)
{
    Py_ssize_t start, stop, step, length, i, cur;
    PyObject *result;

    if (PySlice_Unpack(slice, &start, &stop, &step) < 0) {
        return NULL;
    }
    length = PySlice_AdjustIndices(Py_SIZE(op), &start, &stop, step);
    result = PyTuple_New(length);
    if (result == NULL) {
        return NULL;
    }
    for (i = 0, cur = start; i < length; i++, cur += step) {
        PyTuple_SET_ITEM(result, i, Py_NewRef(RECORD(op)->ob_item[cur]));
    }
    return result;
}

static PyObject *
record_subscript(PyObject *op, PyObject *key)
{
    Py_ssize_t i;

    if (PyIndex_Check(key)) {
        i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (i < 0) {
            i += Py_SIZE(op);
        }
        return record_item(op, i);
    }
    if (PySlice_Check(key)) {
        return record_slice(op, key);
    }
    i = record_position(op, key);
    if (i >= 0) {
        return Py_NewRef(RECORD(op)->ob_item[i]);
    }
    if (i == -1) {
        /* Wrapped, so that a tuple key is not taken for the exception's arguments. */
        PyObject *exc = PyObject_CallOneArg(PyExc_KeyError, key);
        if (exc != NULL) {
            PyErr_SetObject(PyExc_KeyError, exc);
            Py_DECREF(exc);
        }
    }
    return NULL;
}

/* Like asyncpg: `x in record` asks whether a column is named x. */
static int
record_contains(PyObject *op, PyObject *key)
{
    Py_ssize_t i = record_position(op, key);
    return i >= 0 ? 1 : (i == -1 ? 0 : -1);
}

/* The values of a record or tuple, for comparisons; 0 for anything else. */
static int
comparable_items(PyObject *obj, PyObject ***items, Py_ssize_t *size)
{
    if (PgjetRecord_CheckAny(obj)) {
        *items = RECORD(obj)->ob_item;
        *size = Py_SIZE(obj);
        return 1;
    }
    if (PyTuple_Check(obj)) {
        *items = &PyTuple_GET_ITEM(obj, 0);
        *size = PyTuple_GET_SIZE(obj);
        return 1;
    }
    return 0;
}

/* Records compare with records and tuples by values only, as tuples do. */
static PyObject *
record_richcompare(PyObject *v, PyObject *w, int op)
{
    PyObject **vitems, **witems;
    Py_ssize_t vlen, wlen, i;

    if (!comparable_items(v, &vitems, &vlen) || !comparable_items(w, &witems, &wlen)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    for (i = 0; i < vlen && i < wlen; i++) {
        int equal = PyObject_RichCompareBool(vitems[i], witems[i], Py_EQ);
        if (equal < 0) {
            return NULL;
        }
        if (!equal) {
            break;
        }
    }
    if (i >= vlen || i >= wlen) {
        Py_RETURN_RICHCOMPARE(vlen, wlen, op);
    }
    if (op == Py_EQ) {
        Py_RETURN_FALSE;
    }
    if (op == Py_NE) {
        Py_RETURN_TRUE;
    }
    return PyObject_RichCompare(vitems[i], witems[i], op);
}

static PyObject *
record_values_tuple(PyObject *op)
{
    Py_ssize_t i, n = Py_SIZE(op);
    PyObject *tuple = PyTuple_New(n);

    if (tuple == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(RECORD(op)->ob_item[i]));
    }
    return tuple;
}

/* Equal records and tuples must hash alike, so hash the values as a tuple. */
static Py_hash_t
record_hash(PyObject *op)
{
    PyObject *tuple = record_values_tuple(op);
    Py_hash_t hash;

    if (tuple == NULL) {
        return -1;
    }
    hash = PyObject_Hash(tuple);
    Py_DECREF(tuple);
    return hash;
}

static PyObject *
record_repr(PyObject *op)
{
    const char *type_name = short_type_name(Py_TYPE(op));
    PyObject *names = DESC(RECORD(op)->desc)->names, *parts, *body, *sep, *result = NULL;
    Py_ssize_t i, n = Py_SIZE(op);
    int entered;

    if (n == 0) {
        return PyUnicode_FromFormat("<%s>", type_name);
    }
    entered = Py_ReprEnter(op);
    if (entered != 0) {
        return entered > 0 ? PyUnicode_FromFormat("<%s ...>", type_name) : NULL;
    }
    parts = PyList_New(n);
    if (parts == NULL) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *part = PyUnicode_FromFormat("%U=%R", PyTuple_GET_ITEM(names, i),
                                              RECORD(op)->ob_item[i]);
        if (part == NULL) {
            goto done;
        }
        PyList_SET_ITEM(parts, i, part);
    }
    sep = PyUnicode_FromString(" ");
    if (sep == NULL) {
        goto done;
    }
    body = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
    if (body != NULL) {
        result = PyUnicode_FromFormat("<%s %U>", type_name, body);
        Py_DECREF(body);
    }
done:
    Py_XDECREF(parts);
    Py_ReprLeave(op);
    return result;
}

/* ---- iterators --------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *record; /* NULL once exhausted */
    Py_ssize_t position;
} RecordIterObject;

#define ITER(op) ((RecordIterObject *)(op))

static PyObject *
record_iter_new(PyObject *record, PyTypeObject *type)
{
    RecordIterObject *it = PyObject_GC_New(RecordIterObject, type);

    if (it == NULL) {
        return NULL;
    }
    it->record = Py_NewRef(record);
    it->position = 0;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static void
record_iter_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    Py_XDECREF(ITER(op)->record);
    PyObject_GC_Del(op);
}

static int
record_iter_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(ITER(op)->record);
    return 0;
}

static PyObject *
record_iter_length_hint(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RecordIterObject *it = ITER(op);
    return PyLong_FromSsize_t(it->record == NULL ? 0 : Py_SIZE(it->record) - it->position);
}

static PyObject *
record_values_next(PyObject *op)
{
    RecordIterObject *it = ITER(op);

    if (it->record == NULL) {
        return NULL;
    }
    if (it->position < Py_SIZE(it->record)) {
        return Py_NewRef(RECORD(it->record)->ob_item[it->position++]);
    }
    Py_CLEAR(it->record);
    return NULL;
}

static PyObject *
record_items_next(PyObject *op)
{
    RecordIterObject *it = ITER(op);
    PyObject *names;
    Py_ssize_t i;

    if (it->record == NULL) {
        return NULL;
    }
    if (it->position < Py_SIZE(it->record)) {
        i = it->position++;
        names = DESC(RECORD(it->record)->desc)->names;
        return PyTuple_Pack(2, PyTuple_GET_ITEM(names, i), RECORD(it->record)->ob_item[i]);
    }
    Py_CLEAR(it->record);
    return NULL;
}

static PyMethodDef record_iter_methods[] = {
    {"__length_hint__", record_iter_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PgjetRecordValues_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pgjet._wire.record.RecordIterator",
    .tp_basicsize = sizeof(RecordIterObject),
    .tp_dealloc = record_iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = record_iter_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = record_values_next,
    .tp_methods = record_iter_methods,
};

PyTypeObject PgjetRecordItems_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pgjet._wire.record.RecordItemsIterator",
    .tp_basicsize = sizeof(RecordIterObject),
    .tp_dealloc = record_iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = record_iter_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = record_items_next,
    .tp_methods = record_iter_methods,
};

/* ---- methods ----------------------------------------------------------- */

static PyObject *
record_iter(PyObject *op)
{
    return record_iter_new(op, &PgjetRecordValues_Type);
}

static PyObject *
record_keys(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return PyObject_GetIter(DESC(RECORD(op)->desc)->names);
}

static PyObject *
record_values(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return record_iter_new(op, &PgjetRecordValues_Type);
}

static PyObject *
record_items(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return record_iter_new(op, &PgjetRecordItems_Type);
}

static PyObject *
record_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t i;

    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "Record.get() expected 1 or 2 arguments, got %zd", nargs);
        return NULL;
    }
    i = record_position(op, args[0]);
    if (i >= 0) {
        return Py_NewRef(RECORD(op)->ob_item[i]);
    }
    if (i == -2) {
        return NULL;
    }
    return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

static PyObject *
record_reduce(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyTypeObject *type = Py_TYPE(op);
    PyObject *values, *args, *state = NULL, *result;

    values = record_values_tuple(op);
    if (values == NULL) {
        return NULL;
    }
    /* pgjet.Record itself is left out, so that pickles do not depend on where it is
       exported from; the descriptor is pickled once per pickle, keeping rows sharing it. */
    if (type == &PgjetRecord_Type) {
        args = PyTuple_Pack(2, RECORD(op)->desc, values);
    }
    else {
        args = PyTuple_Pack(3, RECORD(op)->desc, values, (PyObject *)type);
    }
    Py_DECREF(values);
    if (args == NULL) {
        return NULL;
    }
    if (type->tp_dictoffset != 0) {
        /* A subclass instance's attributes travel as the pickle's state. */
        state = PyObject_GenericGetDict(op, NULL);
        if (state == NULL) {
            Py_DECREF(args);
            return NULL;
        }
        if (!PyDict_Check(state) || PyDict_GET_SIZE(state) == 0) {
            Py_CLEAR(state);
        }
    }
    if (state != NULL) {
        result = PyTuple_Pack(3, pgjet_record_reconstructor, args, state);
        Py_DECREF(state);
    }
    else {
        result = PyTuple_Pack(2, pgjet_record_reconstructor, args);
    }
    Py_DECREF(args);
    return result;
}

static PyObject *
record_sizeof(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyTypeObject *type = Py_TYPE(op);
    return PyLong_FromSsize_t(type->tp_basicsize + Py_SIZE(op) * type->tp_itemsize);
}

static PyMethodDef record_methods[] = {
    {"keys", record_keys, METH_NOARGS,
     PyDoc_STR("keys($self, /)\n--\n\nAn iterator over the column names.")},
    {"values", record_values, METH_NOARGS,
     PyDoc_STR("values($self, /)\n--\n\nAn iterator over the values.")},
    {"items", record_items, METH_NOARGS,
     PyDoc_STR("items($self, /)\n--\n\nAn iterator over (column name, value) pairs.")},
    {"get", (PyCFunction)(void (*)(void))record_get, METH_FASTCALL,
     PyDoc_STR("get($self, name, default=None, /)\n--\n\n"
               "The value of the column called name, or default when there is none.")},
    {"__reduce__", record_reduce, METH_NOARGS, NULL},
    {"__sizeof__", record_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods record_as_sequence = {
    .sq_length = record_length,
    .sq_item = record_item,
    .sq_contains = record_contains,
};

static PyMappingMethods record_as_mapping = {
    .mp_length = record_length,
    .mp_subscript = record_subscript,
};

PyTypeObject PgjetRecord_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pgjet.Record",
    .tp_basicsize = offsetof(PgjetRecordObject, ob_item),
    .tp_itemsize = sizeof(PyObject *),
    .tp_dealloc = record_dealloc,
    .tp_repr = record_repr,
    .tp_as_sequence = &record_as_sequence,
    .tp_as_mapping = &record_as_mapping,
    .tp_hash = record_hash,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc = PyDoc_STR("A result row: record[0], record['name'], record.get('name').\n\n"
                        "Compares, hashes and orders like a tuple of its values; "
                        "`name in record` asks for a column name."),
    .tp_traverse = record_traverse,
    .tp_richcompare = record_richcompare,
    .tp_iter = record_iter,
    .tp_methods = record_methods,
    .tp_new = record_tp_new,
};
