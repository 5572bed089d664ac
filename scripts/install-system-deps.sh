#!/usr/bin/env bash
# The Debian packages the test suite needs, in one place (npm test's pretest step and .ci/run use
# this script). Exit 0 at once when every package is installed. Otherwise, run as root it installs
# the missing ones (apt-get); run as another user, or with FACESENSE_NO_APT=1, it prints one line
# naming the command to run and exits 1.
#   sudo bash scripts/install-system-deps.sh
#   python3-torch python3-onnx python3-numpy python3-pytest  training package and its tests
#   opencv-data      Haar cascades of the Viola-Jones detector
#   ffmpeg           video decode/encode (ffmpeg + ffprobe)
#   chromium         browser tests (onnxruntime-web), driven through playwright-core
#   redis-server     job-queue tests (started by the tests on a loopback port)
#   postgresql       result-store tests (a throwaway cluster started by the tests)
set -euo pipefail

PACKAGES=(python3 python3-torch python3-onnx python3-numpy python3-pytest opencv-data ffmpeg chromium redis-server postgresql)

if ! command -v dpkg-query >/dev/null 2>&1; then
  # Not Debian: nothing to check against; the tests that need a tool say so themselves.
  echo "install-system-deps: not a Debian system; install the equivalents of: ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "facesense tests need Debian packages ${missing[*]}: run  sudo bash scripts/install-system-deps.sh" >&2
  exit 1
fi
if [ "${FACESENSE_NO_APT:-}" = "1" ]; then
  echo "facesense tests need Debian packages ${missing[*]}: run  bash scripts/install-system-deps.sh  (as root)" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
