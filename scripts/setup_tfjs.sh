#!/usr/bin/env bash
# The TF.js side of the set-up; sourced by setup_venv.sh after the project is installed.
#   1. the converter, tensorflowjs 4.22.0 (hash-pinned in tfjs/converter-requirements.txt),
#      without its declared dependencies, into $VENV/tfjs-converter (WORKSPACE-notes.md);
#   2. the JavaScript judges, pinned in tfjs/package-lock.json, with `npm ci` (Node 20 and npm
#      must be on PATH);
#   3. Debian's chromium and chromium-driver for the browser test, when missing and apt-get
#      can install them (as root).
# Each step is skipped while what it installed matches its pins (stamps), so a second run
# costs nothing.
set -euo pipefail
PROJECT_ROOT="${PROJECT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VENV="${VENV:-$PROJECT_ROOT/.venv}"
TFJS_DIR="$PROJECT_ROOT/tfjs"

CONVERTER_STAMP="$VENV/tfjs-converter/.requirements-sha256"
WANTED="$(sha256sum < "$TFJS_DIR/converter-requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$CONVERTER_STAMP" 2>/dev/null)" != "$WANTED" ]; then
  rm -rf "$VENV/tfjs-converter"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --require-hashes --target "$VENV/tfjs-converter" -r "$TFJS_DIR/converter-requirements.txt"
  echo "$WANTED" > "$CONVERTER_STAMP"
fi

NPM_STAMP="$TFJS_DIR/node_modules/.package-lock-sha256"
WANTED="$(sha256sum < "$TFJS_DIR/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$NPM_STAMP" 2>/dev/null)" != "$WANTED" ]; then
  # --ignore-scripts: no package here needs an install script (core-js's only prints a notice).
  (cd "$TFJS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$WANTED" > "$NPM_STAMP"
fi

if ! command -v chromium > /dev/null && command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver > /dev/null
fi
