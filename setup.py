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

extensions = [
    Extension(
        "pgjet._wire.core",
        ["src/pgjet/_wire/core.pyx"],
        extra_compile_args=["-O2"] if not debug else ["-O0", "-g"],
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
