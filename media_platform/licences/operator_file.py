"""The operator's licence catalogue (``licences.yaml``): the one authority on what may be done
with a title.

Format: a mapping ``{"licences": {KEY: LICENCE_DICT, ...}}`` (or the inner mapping at top
level); JSON is valid YAML. ``KEY`` is a partition key or a title (a feed's title for a whole
show); titles are turned into partition keys with :func:`media_platform.keys.partition_key_for`,
so lookups are by partition key. ``LICENCE_DICT`` is read by
:func:`media_platform.licences.parsing.licence_from_dict`.

Strict, because a silently dropped entry would drop a restriction: a key given twice (in the
YAML itself, or two titles mapping to the same partition key), an unknown licence key, an
invalid date (``expires: 2026-02-30``) are errors naming the file, the entry and the value.
Dates are read as text and checked by the licence parser, never by YAML's own timestamp rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from media_platform.errors import InvalidInputError
from media_platform.licences.model import Licence
from media_platform.licences.parsing import licence_from_dict


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate mapping keys and keeps dates as text."""


# No implicit timestamps: "2026-02-30" stays a string and the licence parser names the problem.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if key in seen:
            raise InvalidInputError(
                f"line {line}: duplicate key {key!r} (first given on line {seen[key]})"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def strict_yaml(text: str, where: str) -> Any:
    """Parse YAML text with :class:`StrictLoader`; errors are ``<where>: <problem>``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{where}: cannot read licence catalogue: {exc}") from None


def load_catalogue(path: Path | str) -> dict[str, Licence]:
    """The entries of the operator's licence catalogue at ``path``, by partition key.

    Raises:
        InvalidInputError: unreadable file, bad YAML, a duplicate key, an invalid entry.
    """
    from media_platform.keys import MAX_KEY_LENGTH, PARTITION_KEY_PATTERN, partition_key_for

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{p}: cannot read licence catalogue: {exc}") from exc
    data = strict_yaml(text, str(p))
    if data is None:
        return {}
    if isinstance(data, Mapping) and "licences" in data:
        if set(data) != {"licences"}:
            raise InvalidInputError(
                f"{p}: unexpected top-level keys {sorted(map(str, set(data) - {'licences'}))}"
            )
        data = data["licences"] or {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{p}: expected a mapping of title/partition key to licence")
    out: dict[str, Licence] = {}
    for raw_key, entry in data.items():
        if not isinstance(raw_key, str) or not raw_key.strip():
            raise InvalidInputError(f"{p}: catalogue key {raw_key!r} is not a non-empty string")
        key = (
            raw_key
            if (len(raw_key) <= MAX_KEY_LENGTH and PARTITION_KEY_PATTERN.match(raw_key))
            else partition_key_for(raw_key)
        )
        if key in out:
            raise InvalidInputError(f"{p}: {raw_key!r} maps to partition key {key!r} given twice")
        out[key] = licence_from_dict(entry, source="catalogue", where=f"{p}: {raw_key}")
    return out


def load_operator_licences() -> dict[str, Licence]:
    """The entries of the configured catalogue (``get_settings().licences_path``; empty when
    there is none). Read afresh on every call, so an edit takes effect at once.

    Raises:
        InvalidInputError: the file is configured but unreadable or invalid. Callers must never
            treat that as "no restrictions".
    """
    from media_platform.settings import get_settings

    path = get_settings().licences_path
    if path is None:
        return {}
    return load_catalogue(path)
