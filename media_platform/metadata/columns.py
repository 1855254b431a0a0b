"""The one column spec per output (``vars.output_columns`` in ``dbt_metadata/dbt_project.yml``),
read for the PostgreSQL loader: the raw table of each output and its PostgreSQL types.

The dbt macros (``macros/columns.sql``) generate the staging selects from the same spec; this
module derives what those selects read: the raw columns (``from``, the JSON text columns of
``json``, text for ``parse``), never the derived ones (``expr``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from media_platform.errors import InvalidInputError

#: Each output's raw table name (the dbt source's name) and the file it is loaded from.
OUTPUT_FILES = {
    "shots": "shots.parquet",
    "keyframes": "keyframes.parquet",
    "shot_tags": "shot_tags.parquet",
    "transcript": "transcript.parquet",
    "audio_events": "audio_events.parquet",
    "chapters": "chapters.parquet",
    "episode_markers": "episode_markers.parquet",
    "preview": "preview.json",
}
CATALOGUE = "episode_catalogue"
POSTGRES_TYPES = {
    "bigint": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "varchar": "text",
    "varchar[]": "text[]",
    "timestamptz": "timestamptz",
    "words": "jsonb",
}


@dataclass(frozen=True)
class RawColumn:
    """One column of a raw table: its name (as in the output file) and spec type."""

    name: str
    type: str

    @property
    def postgres_type(self) -> str:
        return POSTGRES_TYPES[self.type]


@cache
def _spec(project: Path) -> dict[str, list[dict]]:
    path = project / "dbt_project.yml"
    try:
        spec = yaml.safe_load(path.read_text())["vars"]["output_columns"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path}: no readable vars.output_columns: {exc}") from exc
    return spec


def raw_columns(project: Path, output: str) -> list[RawColumn]:
    """The raw columns of ``output`` (a source name), ``partition_key`` first."""
    spec = _spec(project)
    if output not in spec:
        raise InvalidInputError(f"{project / 'dbt_project.yml'}: no column spec for output {output!r}")
    columns: dict[str, RawColumn] = {"partition_key": RawColumn("partition_key", "varchar")}
    for c in spec[output]:
        if c.get("expr"):
            continue
        if c.get("json"):
            name, kind = c["json"][0], "varchar"
        else:
            name, kind = c.get("from") or c["name"], "varchar" if c.get("parse") else c["type"]
        if kind not in POSTGRES_TYPES:
            raise InvalidInputError(f"{project / 'dbt_project.yml'}: {output}.{c['name']}: unknown type {kind!r}")
        columns.setdefault(name, RawColumn(name, kind))
    return list(columns.values())


def spec_digest(project: Path) -> str:
    """A digest of every output's raw columns (a changed spec rebuilds the raw tables)."""
    shape = {o: [(c.name, c.type) for c in raw_columns(project, o)] for o in [*OUTPUT_FILES, CATALOGUE]}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()
