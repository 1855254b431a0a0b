"""The catalogue's tables (SQLAlchemy Core), as the latest migration leaves them.

Tables are prefixed ``catalogue_`` and Alembic's version table is ``catalogue_alembic_version``,
so the catalogue can live in the same PostgreSQL database as Dagster's instance storage.
The partition key is the primary key and the content hash has a unique index (NULL, for an
RSS item not yet downloaded, is exempt), so the database itself refuses a second row with the
same key or the same content. In PostgreSQL keys use the "C" collation: pages are ordered by
bytes, as in SQLite. Editors' shot labels (revision 0002) are keyed by label, partition and
shot, so a shot is labelled one way per label.
"""

from __future__ import annotations

import sqlalchemy as sa

VERSION_TABLE = "catalogue_alembic_version"

KEY_TYPE = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def layout_0001(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The tables of schema revision 0001, frozen: migration ``0001`` creates exactly these.

    A later layout is a new function and a new migration; this one is never edited, so the
    migration keeps creating what it created when it shipped.
    """
    episodes = sa.Table(
        "catalogue_episodes",
        metadata,
        sa.Column("partition_key", KEY_TYPE, primary_key=True),
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
        sa.Index("catalogue_episodes_content_hash", "content_hash", unique=True),
    )
    # facts about the catalogue itself, e.g. ``legacy_import:<uri>`` once a Parquet file is imported
    meta = sa.Table(
        "catalogue_meta",
        metadata,
        sa.Column("name", KEY_TYPE, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    return episodes, meta


def layout_0002(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The tables of schema revision 0002, frozen: 0001's and the editors' shot labels, which
    migration ``0002`` creates. Never edited (a later layout is a new function).

    One row per (label, episode, shot): the primary key makes a shot positive or negative for a
    label at most once, so concurrent editors cannot store it both ways.
    """
    episodes, meta = layout_0001(metadata)
    shot_labels = sa.Table(
        "catalogue_shot_labels",
        metadata,
        sa.Column("label", KEY_TYPE, primary_key=True),
        sa.Column("partition_key", KEY_TYPE, primary_key=True),
        sa.Column("shot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("positive", sa.Boolean, nullable=False),
        sa.Column("editor", sa.Text, nullable=False),
        sa.Column("labelled_at", sa.String(40), nullable=False),
    )
    return episodes, meta, shot_labels


#: The current layout (the newest migration's).
metadata = sa.MetaData()
episodes, meta, shot_labels = layout_0002(metadata)
