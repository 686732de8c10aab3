"""Loads SQLAlchemy's pytest plugin, but only for the compliance suite's own run.

tests/test_sqlalchemy_suite.py runs this directory in a subprocess with
``PGJET_SQLA_SUITE=1``, ``-c tests/sqla_suite/setup.cfg`` and ``--dburi``.
In any other pytest run (our own suite) nothing here is collected and
SQLAlchemy's plugin, which would reconfigure pytest, is never imported.
"""

import os

if os.environ.get("PGJET_SQLA_SUITE") == "1":
    import pytest
    from sqlalchemy.dialects import registry

    # Until the package's sqlalchemy.dialects entry point is installed.
    registry.register("postgresql.pgjet", "pgjet.sqlalchemy", "dialect")
    pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

    from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: F403
else:
    collect_ignore_glob = ["*"]
