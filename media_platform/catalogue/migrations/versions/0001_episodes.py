"""The first SQL layout: episodes (unique key and content hash) and the catalogue's facts.

The layout before it was one Parquet file, ``catalogue/episodes.parquet`` in the store; it is
imported once after this migration by ``media_platform.catalogue.legacy``.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "catalogue_episodes",
        sa.Column("partition_key", KEY, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("episode_id", sa.Text),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("master_uri", sa.Text, nullable=False),
        sa.Column("master_key", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("licence_json", sa.Text, nullable=False),
        sa.Column("metadata_json", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("catalogue_episodes_content_hash", "catalogue_episodes", ["content_hash"], unique=True)
    op.create_table(
        "catalogue_meta",
        sa.Column("name", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalogue_meta")
    op.drop_index("catalogue_episodes_content_hash", table_name="catalogue_episodes")
    op.drop_table("catalogue_episodes")
