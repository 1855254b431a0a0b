"""Partition keys, safe file names and safe joins against hostile input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from media_platform.errors import InvalidInputError
from media_platform.keys import (
    MAX_KEY_LENGTH,
    PARTITION_KEY_PATTERN,
    partition_key_for,
    safe_filename,
    safe_join,
    validate_partition_key,
)

HOSTILE_TITLES = [
    "../../etc/passwd",
    "..",
    ".",
    "/",
    "\\\\server\\share\\x",
    "C:\\Windows\\System32",
    "a\x00b",
    "",
    "   ",
    "🎬🍿",
    "Ünïcödé Tïtlé",
    "東京物語",
    "x" * 500,
    "CON",
    "nul.txt",
    "-rf --no-preserve-root",
    ".hidden",
    "Big Buck Bunny",
    "big buck bunny!",
    "a/b",
    "a\\b",
    "%2e%2e%2f",
    "line\nbreak",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
@pytest.mark.parametrize("episode", [None, "1", "../x", "S02E03", ""])
def test_partition_key_always_valid(title: str, episode: str | None) -> None:
    key = partition_key_for(title, episode)
    assert validate_partition_key(key) == key
    assert PARTITION_KEY_PATTERN.match(key)
    assert len(key) <= MAX_KEY_LENGTH
    assert ".." not in key and "/" not in key and "\\" not in key
    assert partition_key_for(title, episode) == key  # stable


@pytest.mark.parametrize(
    ("title", "episode", "expected"),
    [
        ("Big Buck Bunny", None, "big-buck-bunny"),
        ("Big Buck Bunny", "1", "big-buck-bunny-e01"),
        ("Big Buck Bunny", "e01", "big-buck-bunny-e01"),
        ("big_buck   bunny", None, "big-buck-bunny"),
        ("99 Invisible", "S02E03", "99-invisible-s02e03"),
    ],
)
def test_readable_keys(title: str, episode: str | None, expected: str) -> None:
    assert partition_key_for(title, episode) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Café", "Cafe"),
        ("a/b", "a-b"),
        ("C++", "C#"),
        ("🎬", "🍿"),
        ("", " "),
        ("x" * 100 + "1", "x" * 100 + "2"),
        ("99% Invisible", "99 Invisible"),
    ],
)
def test_lossy_titles_do_not_collide(a: str, b: str) -> None:
    assert partition_key_for(a) != partition_key_for(b)


def test_hash_suffix_only_when_lossy() -> None:
    assert partition_key_for("Café").startswith("cafe-")
    assert len(partition_key_for("Café")) == len("cafe-") + 8
    assert partition_key_for("x" * 500).startswith("x" * 40)


def test_content_hash_suffix() -> None:
    h = "ABCDEF0123456789" * 4
    assert partition_key_for("Big Buck Bunny", content_hash=h) == "big-buck-bunny-abcdef01"
    with pytest.raises(InvalidInputError):
        partition_key_for("x", content_hash="../../etc")


@pytest.mark.parametrize(
    "bad",
    ["", "..", "../x", "a/b", "a\\b", "a\x00b", ".a", "-a", "a-", "A", "a b", "ä", "x" * 65, "a.b"],
)
def test_validate_rejects(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_partition_key(bad)


def test_validate_rejects_non_string() -> None:
    with pytest.raises(InvalidInputError):
        validate_partition_key(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("episode 1.mp3", "episode_1.mp3"),
        ("../../etc/passwd", "etc_passwd"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("🎬", "file"),
        (".bashrc", "bashrc"),
        ("-rf", "rf"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("trailing. . ", "trailing"),
        ("Ünïcödé.mp3", "Unicode.mp3"),
        ("a\x00b", "a_b"),
        ("C:\\evil.exe", "C_evil.exe"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", HOSTILE_TITLES + ["a" * 1000 + ".mp3"])
def test_safe_filename_properties(name: str, tmp_path: Path) -> None:
    out = safe_filename(name)
    assert 0 < len(out) <= 120
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith((".", "-"))
    assert safe_join(tmp_path, out).parent == tmp_path.resolve()


def test_safe_filename_keeps_extension_when_truncating() -> None:
    out = safe_filename("a" * 1000 + ".mp3")
    assert out.endswith(".mp3") and len(out) == 120


def test_safe_join_inside(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a", "b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert safe_join(tmp_path, "a/../b") == tmp_path.resolve() / "b"


@pytest.mark.parametrize(
    "parts",
    [("..",), ("../x",), ("a", "../../x"), ("/etc/passwd",), ("a\x00",), ("",), ("..\\x",)],
)
def test_safe_join_refuses_escape(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInputError):
        safe_join(tmp_path / "root", *parts)


def test_safe_join_refuses_symlink_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(InvalidInputError):
        safe_join(root, "link", "file")


@pytest.mark.parametrize("title", ["Con", "NUL", "aux", "com1", "LPT9"])
def test_windows_device_names_never_become_keys(title: str) -> None:
    key = partition_key_for(title)
    assert key.startswith(title.lower() + "-") and len(key) > len(title)
    with pytest.raises(InvalidInputError):
        validate_partition_key(title.lower())
