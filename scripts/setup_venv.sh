#!/usr/bin/env bash
# Creates .venv beside the project (if missing) and installs the project with its test extra.
# Sourced by the other scripts. The install is skipped while setup.cfg and pyproject.toml are
# those it was made from (a stamp in the venv records their digest), so a second run costs
# nothing and never reinstalls into a venv that is in use.
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$PROJECT_ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
STAMP="$VENV/.slim-mobilenet-hub-setup"
WANTED="$(cat "$PROJECT_ROOT/setup.cfg" "$PROJECT_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANTED" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$PROJECT_ROOT[test]"
  echo "$WANTED" > "$STAMP"
fi
VENV="$VENV" bash "$PROJECT_ROOT/scripts/setup_tfjs.sh"
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
