"""The migrations build exactly the schema the models describe, on every database the suite runs on."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flexbill.bootstrap import Context
from flexbill.models import metadata


def test_the_migrated_schema_matches_the_models(ctx: Context) -> None:
    with ctx.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []


def test_the_migration_starts_with_the_default_billing_rules(ctx: Context) -> None:
    with ctx.engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT billing_day, due_days, grouping, issue_mode, tax_rounding, accounting_sync FROM billing_settings"
        ).one()
    assert tuple(row) == (1, 14, "single", "issue", "per_line", "off")
