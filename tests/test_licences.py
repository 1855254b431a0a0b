"""Licences: parsing from sidecars, feed strings and the catalogue; the one policy; the
registry of per-episode outputs it reads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from media_platform.errors import InvalidInputError
from media_platform.layout import ASSET_OUTPUTS, ASSET_REQUIREMENTS, EPISODE_ASSETS, OutputKind
from media_platform.licences import (
    CONSERVATIVE_LICENCE,
    PRESETS,
    USES,
    Licence,
    allowed_assets,
    expired,
    feed_claim,
    intersect,
    licence_from_dict,
    licence_from_record,
    licence_record,
    load_catalogue,
    load_sidecar,
    operator_entry,
    recognise_licence_string,
    refusal_reason,
    resolve,
    resolve_licence,
)

TODAY = dt.date(2026, 1, 15)
ALL = set(ASSET_REQUIREMENTS)
MASTER_LEVEL = {"master", "media_probe"}
ANALYSIS_ASSETS = {
    "shots",
    "keyframes",
    "shot_embeddings",
    "audio",
    "audio_events",
    "transcript",
    "shot_audio_features",
    "chapters",
    "preview_candidates",
    "preview_selection",
    "shot_features",
    "shot_tags",
    "audio_fingerprint",
    "visual_fingerprint",
    "episode_markers",
}


def test_requirements_table() -> None:
    assert ASSET_REQUIREMENTS["master"] == set() and ASSET_REQUIREMENTS["media_probe"] == set()
    for name in ANALYSIS_ASSETS:
        assert ASSET_REQUIREMENTS[name] == {"analysis"}
    assert ASSET_REQUIREMENTS["shot_index"] == {"analysis", "search_indexing"}
    assert ASSET_REQUIREMENTS["preview"] == {"analysis", "derivatives"}


@pytest.mark.parametrize(
    ("licence", "expected"),
    [
        pytest.param(
            recognise_licence_string("cc-by-nd-4.0"),
            MASTER_LEVEL | ANALYSIS_ASSETS | {"shot_index"},
            id="no-derivatives: shots and transcript, no preview",
        ),
        pytest.param(
            Licence(analysis=False, search_indexing=True, derivatives=True),
            MASTER_LEVEL,
            id="analysis-forbidden",
        ),
        pytest.param(CONSERVATIVE_LICENCE, MASTER_LEVEL, id="conservative"),
        pytest.param(PRESETS["analysis-only"], MASTER_LEVEL | ANALYSIS_ASSETS, id="analysis-only"),
        pytest.param(PRESETS["full"], ALL, id="full"),
        pytest.param(recognise_licence_string("cc-by-4.0"), ALL, id="cc-by"),
        pytest.param(
            Licence(True, True, True, expires=dt.date(2026, 1, 14)),
            MASTER_LEVEL,
            id="expired yesterday",
        ),
        pytest.param(Licence(True, True, True, expires=TODAY), ALL, id="expires today (inclusive)"),
        pytest.param(Licence(True, True, True, territories=()), MASTER_LEVEL, id="no territory"),
    ],
)
def test_allowed_assets(licence: Licence, expected: set[str]) -> None:
    assert allowed_assets(licence, ALL, TODAY) == expected


def test_registry_is_the_one_list() -> None:
    """Outputs and requirements derive from the registry; every use it names is a licence use."""
    assert set(ASSET_OUTPUTS) == set(ASSET_REQUIREMENTS) == set(EPISODE_ASSETS)
    for name, asset in EPISODE_ASSETS.items():
        assert asset.uses <= USES, name
        assert ASSET_OUTPUTS[name] == tuple(o.relative_path for o in asset.outputs)
    assert ASSET_OUTPUTS["keyframes"] == ("keyframes.parquet", "keyframes/")
    assert EPISODE_ASSETS["keyframes"].outputs[1].kind is OutputKind.IMAGE_FOLDER
    assert [a.name for a in EPISODE_ASSETS.values() if a.index_points] == ["shot_index"]
    names = [o.name for a in EPISODE_ASSETS.values() for o in a.outputs]
    assert len(names) == len(set(names)), "two assets claim the same stored output"


def test_no_derivatives_title() -> None:
    nd = recognise_licence_string("CC BY-ND 4.0")
    assert nd is not None and not nd.derivatives
    assert refusal_reason(nd, "shots", TODAY) is None
    assert refusal_reason(nd, "transcript", TODAY) is None
    assert "derivatives" in (refusal_reason(nd, "preview", TODAY) or "")


def test_expired() -> None:
    lic = Licence(True, True, True, expires=dt.date(2025, 12, 31))
    assert expired(lic, TODAY)
    assert not expired(lic, dt.date(2025, 12, 31))
    assert not expired(Licence(True), TODAY)
    assert "expired" in (refusal_reason(lic, "shots", TODAY) or "")
    assert refusal_reason(lic, "master", TODAY) is None


def test_territories() -> None:
    lic = Licence(True, True, True, territories=("GB", "ie"))
    assert lic.territories == ("GB", "IE")
    assert allowed_assets(lic, {"preview"}, TODAY, territory="gb") == {"preview"}
    assert "US" in (refusal_reason(lic, "preview", TODAY, territory="US") or "")
    assert refusal_reason(PRESETS["full"], "preview", TODAY, territory="US") is None
    with pytest.raises(InvalidInputError):
        refusal_reason(lic, "preview", TODAY, territory="USA")
    nowhere = Licence(True, True, True, territories=())
    assert refusal_reason(nowhere, "shots", TODAY) == "licence covers no territory"
    assert "GB" in (refusal_reason(nowhere, "shots", TODAY, territory="GB") or "")


def test_unknown_asset_is_an_error_everywhere() -> None:
    """One behaviour: an asset missing from the registry is never silently allowed or
    assumed to need 'analysis'."""
    with pytest.raises(InvalidInputError, match="unknown asset 'nonsense'.*registry"):
        refusal_reason(PRESETS["full"], "nonsense", TODAY)
    with pytest.raises(InvalidInputError, match="unknown asset"):
        allowed_assets(CONSERVATIVE_LICENCE, {"master", "nonsense"}, TODAY)


@pytest.mark.parametrize(
    ("text", "analysis", "search", "derivatives", "identifier"),
    [
        ("cc-by-4.0", True, True, True, "cc-by-4.0"),
        ("CC-BY-SA-4.0", True, True, True, "cc-by-sa-4.0"),
        ("cc-by-nd-4.0", True, True, False, "cc-by-nd-4.0"),
        ("cc-by-nc-4.0", True, True, False, "cc-by-nc-4.0"),
        ("cc-by-nc-sa-3.0", True, True, False, "cc-by-nc-sa-3.0"),
        ("CC BY-NC-ND 4.0", True, True, False, "cc-by-nc-nd-4.0"),
        (
            "Creative Commons Attribution-NoDerivatives 4.0 International",
            True,
            True,
            False,
            "cc-by-nd-4.0",
        ),
        ("https://creativecommons.org/licenses/by-nd/4.0/", True, True, False, "cc-by-nd-4.0"),
        ("http://creativecommons.org/licenses/by/3.0/", True, True, True, "cc-by-3.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", True, True, True, "cc0-1.0"),
        ("CC0", True, True, True, "cc0-1.0"),
        ("public domain", True, True, True, "public-domain"),
        ("analysis-only", True, False, False, "analysis-only"),
        ("All rights reserved", False, False, False, "all-rights-reserved"),
        ("© 2024 ACME. All Rights Reserved.", False, False, False, "all-rights-reserved"),
    ],
)
def test_recognise(
    text: str, analysis: bool, search: bool, derivatives: bool, identifier: str
) -> None:
    lic = recognise_licence_string(text)
    assert lic is not None
    assert (lic.analysis, lic.search_indexing, lic.derivatives) == (analysis, search, derivatives)
    assert lic.identifier == identifier
    assert lic.source == "feed"


@pytest.mark.parametrize(
    "text", ["my-podcast-license-v1", "", "   ", "cc-nd", "gpl-3.0", "cc-by-nd-sa"]
)
def test_unrecognised(text: str) -> None:
    assert recognise_licence_string(text) is None


@pytest.mark.parametrize("text", [None, "my-podcast-license-v1", "All rights reserved"])
def test_feed_string_that_restricts_nothing_leaves_the_default(text: str | None) -> None:
    assert feed_claim(text) is None
    assert resolve_licence(feed_string=text, feed_default=PRESETS["analysis-only"]) is PRESETS["analysis-only"]
    fallback = resolve_licence(feed_string=text)
    assert not fallback.uses  # conservative: nothing but master-level assets
    assert allowed_assets(fallback, ALL, TODAY) == MASTER_LEVEL


def test_feed_string_restricts_the_default() -> None:
    lic = resolve_licence(feed_string="cc-by-nd-4.0", feed_default=PRESETS["full"])
    assert lic.identifier == "cc-by-nd-4.0" and not lic.derivatives and lic.source == "feed"


def test_sidecar_dict() -> None:
    lic = licence_from_dict(
        {"analysis": True, "search_indexing": False, "territories": ["gb"], "expires": "2027-06-30"}
    )
    assert lic == Licence(True, False, False, ("GB",), dt.date(2027, 6, 30), "sidecar", None)
    lic2 = licence_from_dict({"identifier": "cc-by-4.0", "derivatives": False})
    assert (lic2.analysis, lic2.search_indexing, lic2.derivatives) == (True, True, False)
    assert licence_from_dict({"uses": ["analysis", "derivatives"]}).uses == {
        "analysis",
        "derivatives",
    }
    assert licence_from_dict({}).uses == frozenset()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"analysys": True}, "unknown keys"),
        ({"analysis": "yes"}, "true/false"),
        ({"uses": ["analysis", "fun"]}, "unknown uses"),
        ({"uses": ["analysis"], "analysis": True}, "either"),
        ({"territories": "GB"}, "list"),
        ({"territories": ["GBR"]}, "ISO"),
        ({"territories": ["*", "GB"]}, "combined"),
        ({"expires": "next year"}, "YYYY-MM-DD"),
        ({"identifier": "my-own"}, "unknown licence"),
        ([1, 2], "mapping"),
    ],
)
def test_sidecar_dict_errors(data: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        licence_from_dict(data)  # type: ignore[arg-type]


def test_load_sidecar(tmp_path: Path) -> None:
    p = tmp_path / "x.licence.json"
    p.write_text(json.dumps({"identifier": "cc-by-nc-4.0", "expires": None}))
    lic = load_sidecar(p)
    assert lic.identifier == "cc-by-nc-4.0" and lic.source == "sidecar" and not lic.derivatives
    p.write_text("{not json")
    with pytest.raises(InvalidInputError, match=str(p)):
        load_sidecar(p)


def test_load_catalogue(tmp_path: Path) -> None:
    p = tmp_path / "licences.yaml"
    p.write_text(
        "licences:\n"
        "  Big Buck Bunny:\n"
        "    identifier: cc-by-3.0\n"
        "  some-show-e01:\n"
        "    uses: [analysis]\n"
        "    territories: [GB, IE]\n"
        "    expires: 2026-12-31\n"
    )
    cat = load_catalogue(p)
    assert set(cat) == {"big-buck-bunny", "some-show-e01"}
    assert cat["big-buck-bunny"].derivatives and cat["big-buck-bunny"].source == "catalogue"
    assert cat["some-show-e01"].expires == dt.date(2026, 12, 31)
    assert cat["some-show-e01"].territories == ("GB", "IE")


def test_load_catalogue_errors(tmp_path: Path) -> None:
    p = tmp_path / "licences.json"
    p.write_text(json.dumps({"Big Buck Bunny": {}, "big-buck-bunny": {}}))
    with pytest.raises(InvalidInputError, match="twice"):
        load_catalogue(p)
    p.write_text(json.dumps({"x": {"analysis": 1}}))
    with pytest.raises(InvalidInputError, match=r"x\.analysis"):
        load_catalogue(p)


def test_resolve_ceiling_and_claims() -> None:
    cat = Licence(analysis=True, source="catalogue")
    side = Licence(analysis=True, derivatives=True, source="sidecar")
    assert resolve_licence(catalogue=cat, sidecar=side, feed_string="cc-by-4.0") == cat
    # the operator's default is the ceiling when there is no entry; claims only restrict
    assert resolve_licence(sidecar=side, feed_default=PRESETS["full"]).uses == {"analysis", "derivatives"}
    assert resolve_licence(sidecar=side).uses == frozenset()
    assert resolve_licence(feed_string="cc-by-4.0", feed_default=PRESETS["none"]).uses == frozenset()
    assert resolve_licence(feed_string="unknown", feed_default=PRESETS["full"]) is PRESETS["full"]
    assert resolve_licence() is CONSERVATIVE_LICENCE
    # claims narrow territories and expiry too
    gb = Licence(True, True, True, territories=("GB",), expires=dt.date(2026, 6, 1), source="sidecar")
    both = resolve(operator=Licence(True, True, False, territories=("GB", "IE"), source="catalogue"),
                   claims=[gb])
    assert both.licence.territories == ("GB",) and both.licence.expires == dt.date(2026, 6, 1)
    assert both.licence.uses == {"analysis", "search_indexing"}
    assert both.metadata() == {
        "licence_source": "catalogue",
        "licence_operator_keys": [],
        "licence_default": None,
        "licence_title_keys": [],
        "licence_claims": [licence_record(gb)],
    }


def test_operator_entry_intersects_every_match() -> None:
    entries = {"show": PRESETS["analysis-and-search"], "title": PRESETS["full"], "k": PRESETS["analysis-only"]}
    assert operator_entry(entries, ["title", "show"]).uses == {"analysis", "search_indexing"}
    assert operator_entry(entries, ["k", "title", None, "show"]).uses == {"analysis"}
    assert operator_entry(entries, ["nothing"]) is None


def test_intersect_names_the_result() -> None:
    full, nd = PRESETS["full"], recognise_licence_string("cc-by-nd-4.0")
    assert intersect(full, nd).identifier == "cc-by-nd-4.0"  # exactly the stricter licence
    assert intersect(nd, full).identifier == "cc-by-nd-4.0"  # nothing taken away
    gb = Licence(True, False, True, territories=("GB",))
    assert intersect(nd, gb).identifier == "cc-by-nd-4.0+restricted"


def test_records_read_back_whatever_their_name() -> None:
    """A stored record names its licence; complete records keep any name (even one that is not a
    recognised identifier, like an intersection's) and their explicit uses."""
    restricted = intersect(recognise_licence_string("cc-by-nd-4.0"), Licence(True, False, True))
    back = licence_from_record(licence_record(restricted))
    assert back.identifier == "cc-by-nd-4.0+restricted" and back.terms() == restricted.terms()
    assert licence_from_record({"identifier": "cc-by-nd-4.0"}).uses == {"analysis", "search_indexing"}
    assert licence_from_record({}).uses == frozenset()


def test_to_dict_roundtrip() -> None:
    lic = Licence(True, False, True, ("GB",), dt.date(2027, 1, 1), "sidecar", "cc-by-4.0")
    again = licence_from_dict({k: v for k, v in lic.to_dict().items() if k != "identifier"})
    assert (
        again.uses == lic.uses
        and again.territories == lic.territories
        and again.expires == lic.expires
    )
