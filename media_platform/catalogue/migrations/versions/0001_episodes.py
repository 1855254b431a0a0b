"""The first SQL layout: episodes (unique key and content hash) and the catalogue's facts.

The layout before it was one Parquet file, ``catalogue/episodes.parquet`` in the store; it is
imported once after this migration by ``media_platform.catalogue.legacy``.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from media_platform.catalogue.schema import layout_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in layout_0001(sa.MetaData()):
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(layout_0001(sa.MetaData())):
        table.drop(op.get_bind())
