"""What an editor may give as an example shot: a shot that exists, of a catalogued episode whose
licence in force allows analysis today. The command-line tool, the API and the editors' page
all check examples here before :meth:`~media_platform.tags.labels.LabelStore.add` stores them
(the label store itself only sees the database)."""

from __future__ import annotations

from collections.abc import Sequence

from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.layout import SHOTS, episode_key
from media_platform.storage import Store, read_table
from media_platform.tags.labels import ShotRef
from media_platform.tags.pool import analysable_partitions


def require_labellable(store: Store, refs: Sequence[ShotRef]) -> None:
    """Raise InvalidInputError (``<PARTITION:SHOT>: <problem>``) for the first shot that does not
    exist, whose episode is not catalogued, has no shots yet, or may not be analysed."""
    partitions = sorted({r.partition for r in refs})
    allowed, refused = analysable_partitions(Catalogue(store), partitions)
    shots: dict[str, set[int]] = {}
    for partition in allowed:
        key = episode_key(partition, SHOTS)
        if store.exists(key):
            shots[partition] = set(read_table(store, key)["shot"].to_list())
    for ref in refs:
        if ref.partition in refused:
            reason = refused[ref.partition]
            if reason == "not in the catalogue":
                raise InvalidInputError(f"{ref}: unknown partition {ref.partition!r} (see `media-platform list`)")
            raise InvalidInputError(f"{ref}: {ref.partition} may not be analysed ({reason})")
        if ref.partition not in shots:
            raise InvalidInputError(f"{ref}: {ref.partition} has no shots yet (run: media-platform run {ref.partition})")
        if ref.shot not in shots[ref.partition]:
            raise InvalidInputError(f"{ref}: unknown shot; {ref.partition} has shots 0-{max(shots[ref.partition], default=-1)}")
