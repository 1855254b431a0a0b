"""Editors' shot labels: one row per (label, partition, shot), positive or negative, with who
labelled it and when (``media_platform.tags.labels``). Existing catalogues gain the empty table.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from media_platform.catalogue.schema import layout_0001, layout_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _added() -> list[sa.Table]:
    before = {table.name for table in layout_0001(sa.MetaData())}
    return [table for table in layout_0002(sa.MetaData()) if table.name not in before]


def upgrade() -> None:
    for table in _added():
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(_added()):
        table.drop(op.get_bind())
