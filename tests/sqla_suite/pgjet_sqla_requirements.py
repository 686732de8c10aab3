"""What PostgreSQL can do, for SQLAlchemy's dialect compliance suite.

SQLAlchemy's ``SuiteRequirements`` leaves most capabilities closed; a
third-party dialect opens the ones its database has. This class describes
PostgreSQL (not a driver), so the same class serves every PostgreSQL driver
and their counts compare like with like.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements

_OPEN = exclusions.open


def _server_version(config: Any) -> tuple[int, ...]:
    return tuple(config.db.dialect.server_version_info or ())


class Requirements(SuiteRequirements):
    # -- DDL ----------------------------------------------------------------------
    create_table_as = property(lambda self: _OPEN())
    create_temp_table_as = property(lambda self: _OPEN())
    table_ddl_if_exists = property(lambda self: _OPEN())
    index_ddl_if_exists = property(lambda self: _OPEN())
    deferrable_fks = property(lambda self: _OPEN())
    views = property(lambda self: _OPEN())
    temporary_views = property(lambda self: _OPEN())
    create_or_replace_view = property(lambda self: _OPEN())
    materialized_views = property(lambda self: _OPEN())
    schema_create_delete = property(lambda self: _OPEN())
    default_schema_name_switch = property(lambda self: _OPEN())
    unicode_ddl = property(lambda self: _OPEN())
    server_defaults = property(lambda self: _OPEN())
    expression_server_defaults = property(lambda self: _OPEN())
    computed_columns = property(lambda self: _OPEN())
    computed_columns_stored = property(lambda self: _OPEN())
    computed_columns_reflect_persisted = property(lambda self: _OPEN())
    identity_columns = property(lambda self: _OPEN())
    identity_columns_standard = property(lambda self: _OPEN())

    @property
    def computed_columns_virtual(self) -> Any:
        # GENERATED ... VIRTUAL arrived in PostgreSQL 18.
        return exclusions.only_if(lambda config: _server_version(config) >= (18,))

    @property
    def computed_columns_default_persisted(self) -> Any:
        # Before 18 a generated column is always STORED; since 18 the default is VIRTUAL.
        return exclusions.only_if(lambda config: _server_version(config) < (18,))

    # -- reflection -----------------------------------------------------------------
    cross_schema_fk_reflection = property(lambda self: _OPEN())
    reflects_pk_names = property(lambda self: _OPEN())
    reflect_tables_no_columns = property(lambda self: _OPEN())
    comment_reflection = property(lambda self: _OPEN())
    comment_reflection_full_unicode = property(lambda self: _OPEN())
    constraint_comment_reflection = property(lambda self: _OPEN())
    temp_table_comment_reflection = property(lambda self: _OPEN())
    column_collation_reflection = property(lambda self: _OPEN())
    foreign_key_constraint_option_reflection_ondelete = property(lambda self: _OPEN())
    fk_constraint_option_reflection_ondelete_restrict = property(lambda self: _OPEN())
    fk_constraint_option_reflection_ondelete_noaction = property(lambda self: _OPEN())
    foreign_key_constraint_option_reflection_onupdate = property(lambda self: _OPEN())
    fk_constraint_option_reflection_onupdate_restrict = property(lambda self: _OPEN())
    temp_table_names = property(lambda self: _OPEN())
    has_temp_table = property(lambda self: _OPEN())
    unique_constraints_reflect_as_index = property(lambda self: _OPEN())
    index_reflects_included_columns = property(lambda self: _OPEN())
    indexes_check_column_order = property(lambda self: _OPEN())
    indexes_with_expressions = property(lambda self: _OPEN())
    reflect_indexes_with_expressions = property(lambda self: _OPEN())
    inline_check_constraint_reflection = property(lambda self: _OPEN())
    check_constraint_reflection = property(lambda self: _OPEN())
    reflect_table_options = property(lambda self: _OPEN())

    # -- queries --------------------------------------------------------------------
    boolean_col_expressions = property(lambda self: _OPEN())
    nullsordering = property(lambda self: _OPEN())
    intersect = property(lambda self: _OPEN())
    except_ = property(lambda self: _OPEN())
    window_functions = property(lambda self: _OPEN())
    window_range = property(lambda self: _OPEN())
    window_range_numeric = property(lambda self: _OPEN())
    window_range_non_numeric = property(lambda self: _OPEN())
    ctes = property(lambda self: _OPEN())
    ctes_with_update_delete = property(lambda self: _OPEN())
    ctes_with_values = property(lambda self: _OPEN())
    ctes_on_dml = property(lambda self: _OPEN())
    table_value_constructor = property(lambda self: _OPEN())
    tuple_in = property(lambda self: _OPEN())
    update_from = property(lambda self: _OPEN())
    delete_from = property(lambda self: _OPEN())
    supports_distinct_on = property(lambda self: _OPEN())
    regexp_match = property(lambda self: _OPEN())
    regexp_replace = property(lambda self: _OPEN())
    fetch_first = property(lambda self: _OPEN())
    fetch_ties = property(lambda self: _OPEN())
    fetch_no_order_by = property(lambda self: _OPEN())
    fetch_offset_with_options = property(lambda self: _OPEN())
    fetch_expression = property(lambda self: _OPEN())
    aggregate_order_by = property(lambda self: _OPEN())
    percent_schema_names = property(lambda self: _OPEN())
    supports_bitwise_or = property(lambda self: _OPEN())
    supports_bitwise_and = property(lambda self: _OPEN())
    supports_bitwise_not = property(lambda self: _OPEN())
    supports_bitwise_xor = property(lambda self: _OPEN())
    supports_bitwise_shift = property(lambda self: _OPEN())

    def get_order_by_collation(self, config: Any) -> str:
        return "POSIX"

    # -- types ----------------------------------------------------------------------
    uuid_data_type = property(lambda self: _OPEN())
    array_type = property(lambda self: _OPEN())
    json_type = property(lambda self: _OPEN())
    datetime_interval = property(lambda self: _OPEN())
    datetime_timezone = property(lambda self: _OPEN())
    time_timezone = property(lambda self: _OPEN())
    datetime_historic = property(lambda self: _OPEN())
    datetime_timezone_historic = property(lambda self: _OPEN())
    date_historic = property(lambda self: _OPEN())
    precision_numerics_enotation_small = property(lambda self: _OPEN())
    precision_numerics_many_significant_digits = property(lambda self: _OPEN())
    precision_numerics_retains_significant_digits = property(lambda self: _OPEN())
    infinity_floats = property(lambda self: _OPEN())
    float_or_double_precision_behaves_generically = property(lambda self: _OPEN())

    # -- transactions ---------------------------------------------------------------
    autocommit = property(lambda self: _OPEN())
    savepoints = property(lambda self: _OPEN())

    @property
    def two_phase_transactions(self) -> Any:
        def enabled(config: Any) -> bool:
            with config.db.connect() as conn:
                setting = conn.scalar(
                    text(
                        "SELECT setting::int FROM pg_settings"
                        " WHERE name = 'max_prepared_transactions'"
                    )
                )
            return bool(setting)

        return exclusions.only_if(enabled, "max_prepared_transactions is 0 on this server")

    def get_isolation_levels(self, config: Any) -> dict[str, Any]:
        levels = set(config.db.dialect._isolation_lookup)
        levels.add("AUTOCOMMIT")
        return {"default": "READ COMMITTED", "supported": levels}
