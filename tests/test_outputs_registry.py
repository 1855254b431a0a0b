"""The registry of per-episode outputs (``media_platform.layout``) lists exactly the
per-episode assets of the code location, so the licence policy knows every asset a run can
select (an unregistered one is an error there)."""

from __future__ import annotations

import datetime as dt

from media_platform.layout import EPISODE_ASSETS
from media_platform.licences import PRESETS, allowed_assets


def test_registry_matches_the_episode_job() -> None:
    import definitions

    repo = definitions.defs.get_repository_def()
    job = repo.get_job(definitions.EPISODE_JOB_NAME)
    names = {key.path[-1] for key in job.asset_layer.executable_asset_keys}
    assert names == set(EPISODE_ASSETS), (
        f"not registered: {sorted(names - set(EPISODE_ASSETS))}; "
        f"registered but not in the job: {sorted(set(EPISODE_ASSETS) - names)}"
    )
    # every name resolves in the policy: a full licence allows them all, none only the master level
    today = dt.date(2026, 1, 1)
    assert allowed_assets(PRESETS["full"], names, today) == names
    assert allowed_assets(PRESETS["none"], names, today) == {"master", "media_probe"}

