"""Run code written for asyncpg on pgjet without touching it: ``install_asyncpg()``.

After ``pgjet.compat.install_asyncpg()``, ``import asyncpg`` (and the submodules
listed in :data:`ASYNCPG_MODULES`) resolves to :mod:`pgjet.compat.asyncpg`, whose
names are pgjet's own objects. That is how libraries which import asyncpg
themselves (SQLAlchemy's ``postgresql+asyncpg`` dialect, for one) run on pgjet.

Install it before anything imports asyncpg: a module that already holds the real
asyncpg keeps using it, so installing late is refused unless ``force=True``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = [
    "ASYNCPG_MODULES",
    "AsyncpgAlreadyImportedError",
    "install_asyncpg",
    "is_asyncpg_installed",
    "uninstall_asyncpg",
]

_SHIM_PACKAGE = "pgjet.compat.asyncpg"

#: The asyncpg modules the shim provides (any other ``asyncpg.*`` import fails clearly).
ASYNCPG_MODULES: tuple[str, ...] = (
    "asyncpg",
    "asyncpg.connection",
    "asyncpg.cursor",
    "asyncpg.exceptions",
    "asyncpg.pgproto",
    "asyncpg.pgproto.pgproto",
    "asyncpg.pgproto.types",
    "asyncpg.pool",
    "asyncpg.prepared_stmt",
    "asyncpg.protocol",
    "asyncpg.protocol.protocol",
    "asyncpg.protocol.record",
    "asyncpg.serverversion",
    "asyncpg.transaction",
    "asyncpg.types",
)


class AsyncpgAlreadyImportedError(RuntimeError):
    """The real asyncpg was imported before :func:`install_asyncpg`."""


class _UnmappedAsyncpgFinder:
    """Turns ``import asyncpg.<something the shim lacks>`` into an error that says so."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "asyncpg" or fullname.startswith("asyncpg."):
            raise ModuleNotFoundError(
                f"{fullname} is not provided by pgjet's asyncpg shim "
                f"(pgjet.compat.install_asyncpg); it maps only: {', '.join(ASYNCPG_MODULES)}. "
                "See docs/migrating-from-asyncpg.md.",
                name=fullname,
            )
        return None


class _Installation:
    """What install_asyncpg() changed, so that uninstall_asyncpg() can put it back."""

    def __init__(self, replaced: dict[str, ModuleType], finder: _UnmappedAsyncpgFinder) -> None:
        self.replaced = replaced
        self.finder = finder


_installed: _Installation | None = None


def _shim_name(asyncpg_name: str) -> str:
    return _SHIM_PACKAGE + asyncpg_name[len("asyncpg") :]


def _asyncpg_entries() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "asyncpg" or name.startswith("asyncpg.")
    }


def install_asyncpg(*, force: bool = False) -> ModuleType:
    """Make ``import asyncpg`` resolve to pgjet; return that module. Idempotent.

    Raises :class:`AsyncpgAlreadyImportedError` if the real asyncpg is already in
    ``sys.modules``. With ``force=True`` it is replaced for *later* imports only;
    modules that imported it before keep their reference to the real one.
    """
    global _installed
    if _installed is not None:
        return sys.modules["asyncpg"]
    previous = _asyncpg_entries()
    if previous and not force:
        raise AsyncpgAlreadyImportedError(
            "the real asyncpg is already imported, so code that imported it would keep "
            "using it: call pgjet.compat.install_asyncpg() first thing at start-up, before "
            "anything imports asyncpg (or pass force=True to redirect later imports only)"
        )
    shims = {name: importlib.import_module(_shim_name(name)) for name in ASYNCPG_MODULES}
    for name in previous:
        del sys.modules[name]
    sys.modules.update(shims)
    finder = _UnmappedAsyncpgFinder()
    sys.meta_path.insert(0, finder)
    _installed = _Installation(previous, finder)
    return shims["asyncpg"]


def uninstall_asyncpg() -> None:
    """Undo :func:`install_asyncpg`: ``import asyncpg`` finds the real one again.

    Modules that imported the shim meanwhile keep their reference to it.
    """
    global _installed
    if _installed is None:
        return
    for name in ASYNCPG_MODULES:
        module = sys.modules.get(name)
        if module is not None and module.__name__ == _shim_name(name):
            del sys.modules[name]
    if _installed.finder in sys.meta_path:
        sys.meta_path.remove(_installed.finder)
    sys.modules.update(_installed.replaced)
    _installed = None


def is_asyncpg_installed() -> bool:
    """Whether ``import asyncpg`` currently gives pgjet's shim."""
    return _installed is not None
