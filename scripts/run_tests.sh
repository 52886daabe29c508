#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite. pytest's "no tests ran" (exit 5) fails too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_venv.sh"
cd "$PROJECT_ROOT"
python -m pytest tests "$@"
