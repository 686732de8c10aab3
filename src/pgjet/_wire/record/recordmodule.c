/*
 * The pgjet._wire.record extension module: the Record and RecordDescriptor
 * types, the pickle reconstructor, and the _C_API capsule (see record.h).
 */
#include "record_impl.h"

PyObject *pgjet_record_reconstructor = NULL;

static const PgjetRecord_CAPI record_capi = {
    .abi_version = PGJET_RECORD_ABI_VERSION,
    .record_type = &PgjetRecord_Type,
    .descriptor_type = &PgjetRecordDescriptor_Type,
    .descriptor_new = pgjet_descriptor_new,
    .record_new = pgjet_record_new,
    .record_finish = pgjet_record_finish,
};

static PyObject *
module_reconstruct(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *record_class = NULL;

    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "_reconstruct() takes 2 or 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (nargs == 3) {
        record_class = args[2];
        if (!PyType_Check(record_class)) {
            PyErr_Format(PyExc_TypeError, "record_class must be a subclass of pgjet.Record, not %R",
                         record_class);
            return NULL;
        }
    }
    if (!PyTuple_CheckExact(args[1])) {
        PyErr_Format(PyExc_TypeError, "record values must be a tuple, not %.200s",
                     Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    return pgjet_record_from_values((PyTypeObject *)record_class, args[0], args[1]);
}

static PyObject *
module_record_class_error(PyObject *Py_UNUSED(module), PyObject *cls)
{
    return pgjet_record_class_error(cls);
}

static PyMethodDef module_methods[] = {
    {"_reconstruct", (PyCFunction)(void (*)(void))module_reconstruct, METH_FASTCALL,
     PyDoc_STR("_reconstruct(descriptor, values, record_class=None, /)\n--\n\n"
               "Rebuild a pickled record.")},
    {"record_class_error", module_record_class_error, METH_O,
     PyDoc_STR("record_class_error(cls, /)\n--\n\n"
               "Why cls cannot be used as record_class (asyncpg's rules), or None.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef record_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pgjet._wire.record",
    .m_doc = PyDoc_STR("The compiled Record type and its shared column-name table."),
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit_record(void)
{
    PyObject *module, *capsule;

    if (PyType_Ready(&PgjetRecordDescriptor_Type) < 0 || PyType_Ready(&PgjetRecord_Type) < 0 ||
        PyType_Ready(&PgjetRecordValues_Type) < 0 || PyType_Ready(&PgjetRecordItems_Type) < 0) {
        return NULL;
    }
    module = PyModule_Create(&record_module);
    if (module == NULL) {
        return NULL;
    }
    pgjet_record_reconstructor = PyObject_GetAttrString(module, "_reconstruct");
    if (pgjet_record_reconstructor == NULL) {
        goto error;
    }
    capsule = PyCapsule_New((void *)&record_capi, PGJET_RECORD_CAPSULE_NAME, NULL);
    if (capsule == NULL) {
        goto error;
    }
    if (PyModule_AddObject(module, "_C_API", capsule) < 0) {
        Py_DECREF(capsule);
        goto error;
    }
    if (PyModule_AddObject(module, "Record", Py_NewRef(&PgjetRecord_Type)) < 0) {
        Py_DECREF(&PgjetRecord_Type);
        goto error;
    }
    if (PyModule_AddObject(module, "RecordDescriptor", Py_NewRef(&PgjetRecordDescriptor_Type)) <
        0) {
        Py_DECREF(&PgjetRecordDescriptor_Type);
        goto error;
    }
    return module;

error:
    Py_DECREF(module);
    return NULL;
}
