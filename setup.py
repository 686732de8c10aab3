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
    for name in ("buffer", "core")
]

setup(
    ext_modules=cythonize(
        extensions, compiler_directives=directives, include_path=["src"]
    )
)
