"""Editors' labels: which shots are positive or negative examples of a label, kept in the
catalogue's database (the metadata store; table ``catalogue_shot_labels``, migration 0002), not
in a file that two editors could overwrite.

A shot is labelled one way per label: the table's primary key is (label, partition, shot), and
every change is one transaction, so editors working at once, in several processes or on several
hosts (PostgreSQL), never lose each other's labels nor store a shot both ways. Adding what is
already stored changes nothing; labelling a stored shot the other way is refused
(:class:`ContradictoryLabels`) until the old label is removed. Whether a shot exists and may be
analysed is checked before, by :func:`media_platform.tags.examples.require_labellable` (it
needs the episodes' stored shots).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Integral

import sqlalchemy as sa

from media_platform.catalogue.database import Database, open_database
from media_platform.catalogue.schema import meta as META
from media_platform.catalogue.schema import shot_labels as LABELS
from media_platform.catalogue.store import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.keys import printable, require_text, validate_partition_key

LABEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: Shots are numbered from 0 within an episode; the column is a 32-bit integer.
MAX_SHOT = 2**31 - 1
#: The most examples one call may add or remove (one transaction stays short).
MAX_EXAMPLES_PER_CALL = 10_000
MAX_EDITOR_LENGTH = 200
_SHOT_DIGITS = re.compile(r"[0-9]{1,10}")
_ATTEMPTS = 5
_NAMED = 10  # shots named in an error before "and N more"


def check_label_name(label: str) -> str:
    """``label`` if it is a slug ``[a-z0-9][a-z0-9_-]{0,63}``; else InvalidInputError."""
    require_text(label, "label", max_length=1000)
    if not LABEL_PATTERN.fullmatch(label):
        raise InvalidInputError(
            f"label {printable(label)!r}: must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    return label


@dataclass(frozen=True, order=True)
class ShotRef:
    """One shot of one episode; validated when made."""

    partition: str
    shot: int

    def __post_init__(self) -> None:
        validate_partition_key(self.partition)
        if isinstance(self.shot, Integral) and not isinstance(self.shot, bool):
            object.__setattr__(self, "shot", int(self.shot))  # a NumPy integer becomes an int
        if not isinstance(self.shot, int) or isinstance(self.shot, bool) or not 0 <= self.shot <= MAX_SHOT:
            raise InvalidInputError(f"shot {self.shot!r} of {self.partition}: must be a whole number from 0 to {MAX_SHOT}")

    def __str__(self) -> str:
        return f"{self.partition}:{self.shot}"


def parse_shot_ref(text: str) -> ShotRef:
    """``PARTITION:SHOT`` (e.g. ``my-episode-1a2b3c4d:12``) as a ShotRef.

    Raises:
        InvalidInputError: ``<text>: <problem>``.
    """
    require_text(text, "shot", max_length=200)
    partition, colon, shot = text.rpartition(":")
    where = printable(text)
    if not colon or not partition:
        raise InvalidInputError(f"{where}: a shot is PARTITION:SHOT, e.g. my-episode:12")
    if not _SHOT_DIGITS.fullmatch(shot):
        raise InvalidInputError(f"{where}: the shot after ':' must be a whole number from 0 to {MAX_SHOT}")
    try:
        return ShotRef(partition, int(shot))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def _as_ref(value: ShotRef | str | tuple[str, int]) -> ShotRef:
    if isinstance(value, ShotRef):
        return value
    if isinstance(value, str):
        return parse_shot_ref(value)
    if isinstance(value, tuple) and len(value) == 2:
        return ShotRef(*value)
    raise InvalidInputError(f"shot {value!r}: expected PARTITION:SHOT")


def _refs(values: Iterable[ShotRef | str | tuple[str, int]]) -> list[ShotRef]:
    """Distinct refs in the order given."""
    if isinstance(values, str):
        raise InvalidInputError(f"shots {printable(values)!r}: expected a list of PARTITION:SHOT, not one string")
    return list(dict.fromkeys(_as_ref(v) for v in values))


def _named(refs: Sequence[ShotRef]) -> str:
    shown = ", ".join(str(r) for r in refs[:_NAMED])
    return shown + (f" and {len(refs) - _NAMED} more" if len(refs) > _NAMED else "")


class ContradictoryLabels(InvalidInputError):
    """The same shot positive and negative for one label: in one request, or against what is
    stored (remove the stored label first to change it)."""

    def __init__(self, label: str, shots: Sequence[ShotRef], stored: dict[ShotRef, bool] | None = None) -> None:
        self.label = label
        self.shots = list(shots)
        self.stored = stored
        if stored is None:
            problem = f"{_named(self.shots)} given as both positive and negative; a shot is one or the other"
        else:
            parts = []
            for polarity, word in ((True, "positive"), (False, "negative")):
                refs = [r for r in self.shots if stored[r] is polarity]
                if refs:
                    parts.append(f"{_named(refs)} already labelled {word}")
            example = self.shots[0]
            problem = (
                f"{'; '.join(parts)}, the opposite of this request; to change a label remove it first "
                f"(media-platform label {label} --remove {example}), then add it again"
            )
        super().__init__(f"label {label!r}: {problem}")


@dataclass(frozen=True)
class LabelExample:
    label: str
    partition: str
    shot: int
    positive: bool
    editor: str
    labelled_at: str

    @property
    def ref(self) -> ShotRef:
        return ShotRef(self.partition, self.shot)


@dataclass(frozen=True)
class AddResult:
    """What an ``add`` did: examples newly stored, examples already stored the same way, and
    the label's counts afterwards."""

    added: int
    unchanged: int
    positives: int = 0
    negatives: int = 0
    removed: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_size(refs: Sequence[ShotRef], what: str) -> None:
    if len(refs) > MAX_EXAMPLES_PER_CALL:
        raise InvalidInputError(f"{what}: {len(refs)} shots in one call, more than {MAX_EXAMPLES_PER_CALL}")


class LabelStore:
    """The editors' labels of a catalogue's database (its engine and migrations)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.url = catalogue.url
        self.where = catalogue.where

    @property
    def _db(self) -> Database:
        return open_database(self.url)  # the process's prepared engine (re-made after a fork)

    # ---- writes -------------------------------------------------------------------------------

    def add(
        self,
        label: str,
        positives: Sequence[ShotRef | str],
        negatives: Sequence[ShotRef | str] = (),
        *,
        editor: str = "",
        remove: Sequence[ShotRef | str] = (),
    ) -> AddResult:
        """Store ``positives`` and ``negatives`` as examples of ``label`` in one transaction,
        after forgetting the examples of ``remove`` in the same transaction (so an editor can
        turn a shot from positive to negative in one step, and a refused change removes nothing).

        Raises:
            ContradictoryLabels: a shot is in both lists, or stored the other way (nothing is
                stored then).
            InvalidInputError: a bad label name, shot or editor.
        """
        label = check_label_name(label)
        editor = require_text(editor, "editor", max_length=MAX_EDITOR_LENGTH)
        pos, neg, gone = _refs(positives), _refs(negatives), _refs(remove)
        _check_size(gone, f"label {label!r}")
        both = sorted(set(pos) & set(neg))
        if both:
            raise ContradictoryLabels(label, both)
        wanted = {**{r: True for r in pos}, **{r: False for r in neg}}
        _check_size(list(wanted), f"label {label!r}")
        for attempt in range(_ATTEMPTS):
            db = self._db
            try:
                with db.errors(), db.writer.begin() as conn:
                    removed = _delete(conn, label, gone)
                    stored = _stored(conn, label, wanted, lock=True)
                    clash = sorted(r for r, positive in wanted.items() if r in stored and stored[r] != positive)
                    if clash:
                        raise ContradictoryLabels(label, clash, {r: stored[r] for r in clash})
                    new = [r for r in wanted if r not in stored]
                    if new:
                        now = _now()
                        conn.execute(sa.insert(LABELS), [
                            {"label": label, "partition_key": r.partition, "shot": r.shot, "positive": wanted[r],
                             "editor": editor, "labelled_at": now}
                            for r in new
                        ])
                    counts = _counts(conn, label)
                return AddResult(len(new), len(wanted) - len(new), *counts, removed=removed)
            except sa.exc.IntegrityError:
                # another writer stored one of these shots after we read: read again and decide
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def remove(self, label: str, shots: Sequence[ShotRef | str]) -> int:
        """Delete these shots' examples of ``label`` (either polarity) in one transaction;
        returns how many were stored."""
        label = check_label_name(label)
        refs = _refs(shots)
        _check_size(refs, f"label {label!r}")
        db = self._db
        with db.errors(), db.writer.begin() as conn:
            return _delete(conn, label, refs)

    def reserve_classifier_version(self, label: str, at_least: int) -> int:
        """A version number ``>= at_least`` for a new classifier of ``label`` that no other
        trainer holds: each number is a row of ``catalogue_meta``, whose primary key lets one
        writer win, so trainers running at once (several processes or hosts) never write the
        same version."""
        label = check_label_name(label)
        db = self._db
        for version in range(max(1, int(at_least)), max(1, int(at_least)) + 1000):
            try:
                with db.errors(), db.writer.begin() as conn:
                    conn.execute(sa.insert(META), {"name": f"classifier_version:{label}:{version}", "value": _now()})
                return version
            except sa.exc.IntegrityError:
                continue  # taken by another trainer: the next one
        raise InvalidInputError(f"label {label!r}: no free classifier version after {at_least + 999}")

    # ---- reads --------------------------------------------------------------------------------

    def examples(self, label: str) -> list[LabelExample]:
        """The label's examples, by partition and shot."""
        label = check_label_name(label)
        query = sa.select(LABELS).where(LABELS.c.label == label).order_by(LABELS.c.partition_key, LABELS.c.shot)
        db = self._db
        with db.errors(), db.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            LabelExample(r["label"], r["partition_key"], int(r["shot"]), bool(r["positive"]), r["editor"], r["labelled_at"])
            for r in rows
        ]

    def labelled(self, label: str) -> dict[ShotRef, bool]:
        """Every labelled shot of ``label`` and whether it is positive."""
        return {e.ref: e.positive for e in self.examples(label)}

    def labels(self) -> list[str]:
        """Every label with at least one example, sorted."""
        db = self._db
        with db.errors(), db.engine.connect() as conn:
            return list(conn.execute(sa.select(LABELS.c.label).distinct().order_by(LABELS.c.label)).scalars())

    def counts(self, label: str) -> tuple[int, int]:
        """(positives, negatives) of ``label``."""
        label = check_label_name(label)
        db = self._db
        with db.errors(), db.engine.connect() as conn:
            return _counts(conn, label)

    def digest(self, label: str) -> str:
        """A stable hash of the label's examples (partition, shot, polarity; not who or when):
        what a classifier version was trained on. The same examples give the same digest on
        any database."""
        return examples_digest(self.examples(label))


def examples_digest(examples: Iterable[LabelExample]) -> str:
    """A stable hash of examples (partition, shot, polarity; not who or when): what a classifier
    version was trained on."""
    lines = sorted(f"{e.partition}:{e.shot}:{'+' if e.positive else '-'}" for e in examples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _stored(conn: sa.Connection, label: str, wanted: dict[ShotRef, bool], *, lock: bool) -> dict[ShotRef, bool]:
    """The stored polarity of those of ``wanted`` that ``label`` has (rows locked in PostgreSQL)."""
    partitions = sorted({r.partition for r in wanted})
    found: dict[ShotRef, bool] = {}
    for start in range(0, len(partitions), 500):
        query = sa.select(LABELS.c.partition_key, LABELS.c.shot, LABELS.c.positive).where(
            LABELS.c.label == label, LABELS.c.partition_key.in_(partitions[start:start + 500])
        )
        if lock:
            query = query.with_for_update()
        for partition, shot, positive in conn.execute(query):
            ref = ShotRef(partition, int(shot))
            if ref in wanted:
                found[ref] = bool(positive)
    return found


def _delete(conn: sa.Connection, label: str, refs: Sequence[ShotRef]) -> int:
    """Delete these shots' examples of ``label`` (either polarity); returns how many there were."""
    by_partition: dict[str, list[int]] = {}
    for r in refs:
        by_partition.setdefault(r.partition, []).append(r.shot)
    removed = 0
    for partition, numbers in by_partition.items():
        removed += conn.execute(
            sa.delete(LABELS).where(
                LABELS.c.label == label, LABELS.c.partition_key == partition, LABELS.c.shot.in_(numbers)
            )
        ).rowcount
    return removed


def _counts(conn: sa.Connection, label: str) -> tuple[int, int]:
    query = sa.select(LABELS.c.positive, sa.func.count()).where(LABELS.c.label == label).group_by(LABELS.c.positive)
    by = {bool(p): int(n) for p, n in conn.execute(query)}
    return by.get(True, 0), by.get(False, 0)
