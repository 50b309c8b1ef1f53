"""character fields never null: JSON nulls already stored become empty lists and objects

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every JSON column and the empty value that replaces a stored null. The API once let
# `"tags": null` through and SQLAlchemy stored it as JSON null (which NOT NULL allows);
# such a row broke every read of it. The columns now write and read null as empty
# (db.JSONList / db.JSONDict), and this repairs rows written before.
COLUMNS = [
    ("characters", "alternate_greetings", "[]"),
    ("characters", "group_only_greetings", "[]"),
    ("characters", "tags", "[]"),
    ("characters", "extensions", "{}"),
    ("characters", "card_extra", "{}"),
    ("characters", "sampling", "{}"),
    ("lorebooks", "extensions", "{}"),
    ("lorebooks", "extra", "{}"),
    ("lorebook_entries", "keys", "[]"),
    ("lorebook_entries", "secondary_keys", "[]"),
    ("lorebook_entries", "extensions", "{}"),
    ("lorebook_entries", "extra", "{}"),
    ("agent_settings", "interests", "[]"),
    ("agenda", "inputs", "{}"),
    ("agenda", "memories_used", "[]"),
    ("actors", "fields", "[]"),
    ("outbound_events", "payload", "{}"),
]


def upgrade() -> None:
    """Replace stored JSON nulls with the column's empty value."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, empty in COLUMNS:
        value = f"CAST('{empty}' AS JSON)" if postgres else f"'{empty}'"
        op.execute(
            sa.text(
                f'UPDATE "{table}" SET "{column}" = {value} '  # noqa: S608 - names above
                f'WHERE "{column}" IS NULL OR CAST("{column}" AS TEXT) = \'null\''
            )
        )


def downgrade() -> None:
    """Nothing to undo: empty values are valid in every version."""
