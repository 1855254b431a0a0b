#!/usr/bin/env bash
# Set up (apt + pip, see setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python-env.sh
export MEDIA_PLATFORM_HOME="$(mktemp -d)/home"   # tests never touch your real outputs
export DAGSTER_HOME="$MEDIA_PLATFORM_HOME/dagster"
"$PYTHON" -m pytest "$@"
