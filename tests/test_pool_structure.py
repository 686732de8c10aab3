"""The pool is assembled from one class per concern over ``PoolCore``: check the seams.

What the parts ask of each other is declared in ``PoolCore`` for the type checker
only, so mypy cannot notice a part that stops defining it; these tests do.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pgjet
from pgjet.pool import Pool, PoolAcquireContext, _core
from pgjet.pool._core import PoolCore


def _declared_between_parts() -> dict[str, list[str]]:
    """Name -> parameter names of each method declared in PoolCore's TYPE_CHECKING block."""
    tree = ast.parse(Path(_core.__file__).read_text())
    core = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PoolCore")
    block = next(
        n for n in core.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    return {
        n.name: [a.arg for a in n.args.args + n.args.kwonlyargs]
        for n in block.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def test_every_method_the_parts_rely_on_is_defined_by_one_of_them() -> None:
    declared = _declared_between_parts()
    assert "_grow" in declared and "_hand_off" in declared  # the parse found the block
    for name, parameters in declared.items():
        owner = next((c for c in Pool.__mro__ if name in vars(c)), None)
        assert owner is not None and owner is not PoolCore, f"nothing defines {name}"
        assert list(inspect.signature(getattr(Pool, name)).parameters) == parameters, name


def test_every_setting_is_set_by_the_constructor() -> None:
    pool = Pool("postgresql://nobody@127.0.0.1:1/none", min_size=0)
    missing = [name for name in PoolCore.__annotations__ if not hasattr(pool, name)]
    assert missing == []


def test_public_names_are_where_they_were() -> None:
    assert pgjet.Pool is Pool
    assert pgjet.create_pool is pgjet.pool.create_pool
    from pgjet.pool import _pool

    assert _pool.Pool is Pool and _pool.PoolAcquireContext is PoolAcquireContext
    assert _pool.create_pool is pgjet.pool.create_pool
    assert isinstance(pgjet.create_pool(min_size=0), Pool)
