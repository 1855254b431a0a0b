"""Registration is one atomic step (issue 9, defect 3): two different files with the same title
at the same moment both keep their own row and master; the same content from two processes
gives one episode; a failed registration leaves neither a row nor an orphan master."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import subprocess
from pathlib import Path

import pytest

from media_platform.catalogue import Catalogue, CatalogueError, PartitionKeyTakenError
from media_platform.errors import InvalidInputError
from media_platform.ingest.register import register_master
from media_platform.storage import LocalStore


def _tone(path: Path, freq: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={freq}:d=0.5", "-c:a", "libmp3lame", str(path)],
        check=True,
    )
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_consistent(store: LocalStore, catalogue: Catalogue) -> None:
    """Every row's master exists and holds the row's content; no master without a row."""
    episodes = catalogue.episodes()
    for episode in episodes:
        assert _sha(store.path(episode.master_key)) == episode.content_hash, episode.partition_key
    masters = set(store.list_keys("masters"))
    assert masters == {e.master_key for e in episodes}


class _InterleavingStore(LocalStore):
    """A store that runs ``before_first_put`` just before its first master copy: another
    registration slips in between choosing a key and making the master visible."""

    before_first_put = None

    def put_file(self, key, local_path):
        hook, self.before_first_put = self.before_first_put, None
        if hook is not None:
            hook()
        return super().put_file(key, local_path)


def test_two_files_with_one_title_interleaved_keep_both(tmp_path: Path) -> None:
    a, b = _tone(tmp_path / "a.mp3", 440), _tone(tmp_path / "b.mp3", 660)
    store = _InterleavingStore(tmp_path / "home")
    catalogue = Catalogue(store)
    results = {}
    store.before_first_put = lambda: results.setdefault(
        "b", register_master(store, Catalogue(LocalStore(store.root)), b, title="Same Title"))
    results["a"] = register_master(store, catalogue, a, title="Same Title")
    assert results["a"].created and results["b"].created
    keys = {results["a"].episode.partition_key, results["b"].episode.partition_key}
    assert len(keys) == 2
    assert catalogue.find_by_hash(_sha(a)).partition_key == results["a"].episode.partition_key
    assert catalogue.find_by_hash(_sha(b)).partition_key == results["b"].episode.partition_key
    _assert_consistent(store, catalogue)


def _register_at_once(root: str, path: str, title: str, barrier, queue) -> None:
    store = LocalStore(root)
    catalogue = Catalogue(store)
    barrier.wait(60)
    reg = register_master(store, catalogue, Path(path), title=title)
    queue.put((reg.episode.partition_key, reg.created))


def _race(tmp_path: Path, files: list[Path], title: str) -> list[tuple[str, bool]]:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(files)), ctx.Queue()
    root = str(tmp_path / "home")
    Catalogue(LocalStore(root))  # the database exists before the race (as after set-up)
    procs = [ctx.Process(target=_register_at_once, args=(root, str(f), title, barrier, queue)) for f in files]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return [queue.get(timeout=5) for _ in files]


def test_two_different_files_with_one_title_at_once_from_two_processes(tmp_path: Path) -> None:
    files = [_tone(tmp_path / f"{i}.mp3", 300 + 100 * i) for i in range(3)]
    results = _race(tmp_path, files, "Same Title")
    assert all(created for _, created in results)
    assert len({key for key, _ in results}) == 3
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    assert len(catalogue.episodes()) == 3
    _assert_consistent(store, catalogue)


def test_the_same_content_from_two_processes_at_once_is_one_episode(tmp_path: Path) -> None:
    source = _tone(tmp_path / "a.mp3", 440)
    copy = tmp_path / "copy.mp3"
    copy.write_bytes(source.read_bytes())
    results = _race(tmp_path, [source, copy], "Same Content")
    assert sorted(created for _, created in results) == [False, True]
    assert len({key for key, _ in results}) == 1
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    assert len(catalogue.episodes()) == 1
    _assert_consistent(store, catalogue)


def _setup(tmp_path: Path, store_class: type[LocalStore] = LocalStore) -> tuple[Path, LocalStore, Catalogue]:
    """A tone file and an empty home (store and catalogue)."""
    store = store_class(tmp_path / "home")
    return _tone(tmp_path / "a.mp3", 440), store, Catalogue(store)


def _assert_nothing_stored(store: LocalStore, catalogue: Catalogue) -> None:
    assert catalogue.episodes() == [] and store.list_keys("masters") == []


class _FailingStore(LocalStore):
    def put_file(self, key, local_path):
        raise OSError(28, "No space left on device")


def test_a_failed_copy_leaves_no_row_and_no_master(tmp_path: Path) -> None:
    a, store, catalogue = _setup(tmp_path, _FailingStore)
    with pytest.raises(OSError, match="No space"):
        register_master(store, catalogue, a, title="Doomed")
    _assert_nothing_stored(store, catalogue)
    # the same file registers cleanly afterwards
    healthy = LocalStore(tmp_path / "home")
    reg = register_master(healthy, Catalogue(healthy), a, title="Doomed")
    assert reg.created
    _assert_consistent(healthy, Catalogue(healthy))


def test_an_interrupted_registration_is_repaired_by_the_next(tmp_path: Path) -> None:
    a, store, catalogue = _setup(tmp_path)
    first = register_master(store, catalogue, a, title="Interrupted")
    store.delete(first.episode.master_key)  # as if the process died between row and copy
    again = register_master(store, catalogue, a, title="Interrupted")
    assert not again.created and again.episode.partition_key == first.episode.partition_key
    _assert_consistent(store, catalogue)


def test_text_that_is_not_unicode_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    a, store, catalogue = _setup(tmp_path)
    with pytest.raises(InvalidInputError, match="title: not valid UTF-8"):
        register_master(store, catalogue, a, title="bad \udc80 title")
    with pytest.raises(InvalidInputError, match="episode id: not valid UTF-8"):
        register_master(store, catalogue, a, title="Fine", episode_id="\udcff")
    _assert_nothing_stored(store, catalogue)


def test_undo_registration_takes_back_the_row_and_the_master(tmp_path: Path) -> None:
    from media_platform.ingest.register import undo_registration

    a, store, catalogue = _setup(tmp_path)
    reg = register_master(store, catalogue, a, title="Undone")
    again = register_master(store, catalogue, a, title="Undone")
    assert not undo_registration(store, catalogue, again)  # it created nothing
    assert catalogue.get(reg.episode.partition_key) is not None
    assert undo_registration(store, catalogue, reg)
    _assert_nothing_stored(store, catalogue)
    assert register_master(store, catalogue, a, title="Undone").created


def test_same_content_that_took_the_key_first_is_found_not_refused(tmp_path: Path) -> None:
    """Two registrations of one content at once on PostgreSQL: the loser's insert hits the
    partition key's unique index before the hash's, so the key looks taken. It holds the same
    content: the loser reports the existing episode, it does not fail."""
    a = _tone(tmp_path / "a.mp3", 440)
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    first = register_master(store, catalogue, a, title="Same Title")
    racing = Catalogue(store)
    racing.find_by_hash = lambda digest: None  # the window: the winner's row not yet visible

    def insert(candidate):
        raise PartitionKeyTakenError("db", candidate.partition_key, catalogue.get(candidate.partition_key))

    racing.insert_new_content = insert
    again = register_master(store, racing, a, title="Same Title")
    assert first.created and not again.created
    assert again.episode.partition_key == first.episode.partition_key
    _assert_consistent(store, catalogue)


class _BrokenCatalogue(Catalogue):
    def remove(self, partition_key, *, content_hash=None):
        raise CatalogueError("db", "the database went away")


def test_a_failed_clean_up_never_hides_the_failed_copy(tmp_path: Path) -> None:
    a = _tone(tmp_path / "a.mp3", 440)
    store = _FailingStore(tmp_path / "home")
    with pytest.raises(OSError, match="No space") as error:
        register_master(store, _BrokenCatalogue(store), a, title="Doomed")
    assert any("the database went away" in note for note in error.value.__notes__)


def test_undo_registration_also_takes_back_attached_sidecars(tmp_path: Path) -> None:
    from media_platform.ingest.register import attach_subtitles, undo_registration

    a, store, catalogue = _setup(tmp_path)
    other = register_master(store, catalogue, _tone(tmp_path / "b.mp3", 660), title="Undone Too")
    reg = register_master(store, catalogue, a, title="Undone")
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,400\nHello.\n\n", encoding="utf-8")
    attach_subtitles(store, catalogue, reg.episode, srt)
    assert undo_registration(store, catalogue, reg)
    # the row, the master and the subtitle are gone; the other episode (a longer key) is kept
    assert [e.partition_key for e in catalogue.episodes()] == [other.episode.partition_key]
    assert store.list_keys("masters") == [other.episode.master_key]
