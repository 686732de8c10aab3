"""Build the compiled wire core. Everything else is in pyproject.toml."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# PGJET_DEBUG=1 builds with bounds checks and line tracing for debugging.
debug = os.environ.get("PGJET_DEBUG") == "1"

directives = {
    "language_level": "3",
    "boundscheck": debug,
    "wraparound": debug,
    "cdivision": True,
    "embedsignature": True,
}

compile_args = ["-O0", "-g"] if debug else ["-O2"]

# One extension per concern; they share C-level APIs through .pxd files.
extensions = [
    Extension(f"pgjet._wire.{name}", [f"src/pgjet/_wire/{name}.pyx"], extra_compile_args=compile_args)
    for name in ("buffer", "codecs", "core")
]

# Record is hand-written C; Cython modules reach it through the capsule that
# src/pgjet/_wire/record/record.h documents (cimport pgjet._wire.record).
_record_dir = "src/pgjet/_wire/record"
extensions.append(
    Extension(
        "pgjet._wire.record",
        [f"{_record_dir}/{name}.c" for name in ("recordmodule", "record", "descriptor")],
        depends=[f"{_record_dir}/record.h", f"{_record_dir}/record_impl.h"],
        extra_compile_args=compile_args,
    )
)

setup(
    ext_modules=cythonize(
        extensions, compiler_directives=directives, include_path=["src"]
    )
)
