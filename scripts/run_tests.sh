#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite. pytest's "no tests ran" (exit 5) fails too.
#
# Two workers (TEST_WORKERS=N for another number, 0 for none): most tests wait on one
# TensorFlow process at a time, so a 2-core machine runs the suite in about half the time.
# tests/conftest.py keeps each test file on one worker (the doc pages spread over both), and
# has the slow session fixtures (exports, the quickstart, a regeneration) made once per run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_venv.sh"
cd "$PROJECT_ROOT"
python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup tests "$@"
