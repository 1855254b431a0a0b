"""The episode catalogue as an asset, with the licence compliance check over all partitions."""

from datetime import date

import dagster as dg

from assets.common import OWNERS
from media_platform.catalogue import Catalogue
from media_platform.licences import load_operator_licences
from media_platform.licences.retention import compliance_violations
from resources import MediaStorage, VectorIndexResource


@dg.asset(group_name="catalogue", kinds={"parquet"}, owners=OWNERS)
def episode_catalogue(storage: MediaStorage) -> dg.MaterializeResult:
    """The catalogue of episodes (partition, title, kind, source, licence) as a table in the UI
    (its first 500 rows), exported whole as Parquet for analytics (``exports/episodes.parquet``);
    its compliance check verifies that no partition holds an asset its licence forbids."""
    catalogue = Catalogue(storage.get_store())
    export_uri = catalogue.export_parquet()
    rows = [dg.TableRecord({"partition": e.partition_key, "title": e.title, "kind": e.kind, "source": e.source,
                            "licence": (e.licence or {}).get("identifier") or ("unrestricted" if not e.licence else "custom")})
            for e in catalogue.page(limit=500)]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in ("partition", "title", "kind", "source", "licence")])
    return dg.MaterializeResult(metadata={"episodes": catalogue.count(), "export": export_uri,
                                          "table": dg.MetadataValue.table(rows, schema=schema)})


@dg.asset_check(asset=episode_catalogue)
def licence_compliance(storage: MediaStorage, vector_index: VectorIndexResource) -> dg.AssetCheckResult:
    """Fails when any partition holds an output (file or index point) its licence forbids: the
    licence the run-time gate resolves against the operator's current licence file, so a
    withdrawal there fails the check while the outputs remain. An unreadable file fails it."""
    store = storage.get_store()
    violations: list[str] = []
    try:
        entries = load_operator_licences()
    except Exception as exc:  # noqa: BLE001 - an unreadable file never passes the check
        violations.append(f"licence catalogue unreadable: {exc}")
        entries = None
    violations += compliance_violations(
        store, vector_index.get_index(), Catalogue(store).episodes(), date.today(), entries
    )
    return dg.AssetCheckResult(passed=not violations, metadata={"violations": "\n".join(violations[:50]) or "none",
                                                                "count": len(violations)})

