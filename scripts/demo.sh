#!/usr/bin/env bash
# Set up a fresh clone, ingest the bundled samples, run every asset of both episodes through
# Dagster, then serve the Dagster UI on http://127.0.0.1:3000 and the editors' page on
# http://127.0.0.1:8000 with the results (Ctrl-C stops both).
#
# Embedded defaults: outputs in $MEDIA_PLATFORM_HOME (default ~/.media-platform), the Dagster
# instance in $DAGSTER_HOME (default ~/.media-platform/dagster, SQLite), the embedded Qdrant
# engine for the vector index. No server to start by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SKIP_SETUP:-0}" != 1 ]; then bash scripts/setup.sh; fi
source scripts/python-env.sh

export MEDIA_PLATFORM_HOME="${MEDIA_PLATFORM_HOME:-$HOME/.media-platform}"
export DAGSTER_HOME="${DAGSTER_HOME:-$MEDIA_PLATFORM_HOME/dagster}"
# Create the Dagster instance once, under a lock, before anything touches it (every command does
# this too; concurrent first commands on a fresh instance must not race to create its storage).
media-platform init

# CLIP weights are downloaded by open_clip on first use. Without network access (and without
# MEDIA_PLATFORM_CLIP_CHECKPOINT) the demo falls back to untrained weights, says so, and the
# shot search then runs but is not semantic.
if [ -z "${MEDIA_PLATFORM_CLIP_CHECKPOINT:-}" ] && [ -z "${MEDIA_PLATFORM_CLIP_PRETRAINED:-}" ]; then
  if ! "$PYTHON" - <<'PY'
import sys
import open_clip
try:
    open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
except Exception as exc:
    print(f"demo: CLIP weights unavailable ({type(exc).__name__}); using untrained weights", file=sys.stderr)
    sys.exit(1)
PY
  then
    export MEDIA_PLATFORM_CLIP_PRETRAINED=none
  fi
fi

media-platform ingest samples/big_buck_bunny_0_30.webm --title "Big Buck Bunny" --episode "opening"
media-platform ingest samples/podcast_assembled.mp3 --title "Assembled Podcast" --episode "1"
for partition in $(media-platform list --json | "$PYTHON" -c 'import json,sys; print(" ".join(r["partition_key"] for r in json.load(sys.stdin)))'); do
  media-platform run "$partition"
done
media-platform show big-buck-bunny-opening shots
media-platform search "a rabbit in a meadow" --limit 3
media-platform sql "SELECT title, episodes, round(hours, 3) AS hours, shots_per_minute, speech_share, music_share FROM title_summary"

if [ "${DEMO_NO_UI:-0}" = 1 ]; then exit 0; fi
# The search API and the editors' page beside the Dagster UI; stopped with it.
media-platform serve --port "${API_PORT:-8000}" &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true' EXIT
echo "demo: the editors' page and search API on http://127.0.0.1:${API_PORT:-8000} (OpenAPI: /docs)"
echo "demo: serving the Dagster UI on http://127.0.0.1:${DAGSTER_PORT:-3000} (Ctrl-C to stop both)"
dagster dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"
