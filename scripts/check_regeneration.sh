#!/usr/bin/env bash
# Regenerates 18 artifacts (mobilenet_v2_0.75_96, mobilenet_v2_0.35_128 and the flagship
# mobilenet_v2_1.0_224, both module types, versions 4 and 5 with the models of every format made
# beside the SavedModel, and the Keras files) from seed-0 synthetic checkpoints and compares the
# manifest with the committed lock file,
# tests/regeneration.lock.json. CI runs it after the test suite.
#
#   bash scripts/check_regeneration.sh            # exit 1 and a diff if anything changed
#   bash scripts/check_regeneration.sh --update   # rewrite the lock after an intended change
# The lock is exactly what this script regenerates, so --update also removes entries for
# artifacts it no longer makes (--prune_lock).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_venv.sh"
cd "$PROJECT_ROOT"

LOCK=tests/regeneration.lock.json
case "${1:-}" in
  "") MODE=("--check=$LOCK") ;;
  --update) MODE=("--update_lock=$LOCK" --prune_lock) ;;
  *) echo "usage: bash scripts/check_regeneration.sh [--update]" >&2; exit 2 ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for spec in "0.75 96" "0.35 128" "1.0 224"; do
  read -r multiplier size <<<"$spec"
  python scripts/make_synthetic_checkpoint.py --depth_multiplier="$multiplier" \
      --image_size="$size" --seed=0 --output_dir="$WORK/checkpoints" >/dev/null
done
python scripts/regenerate_hub_artifacts.py --checkpoint_dir="$WORK/checkpoints" \
    --output_dir="$WORK/hub" --variants=mobilenet_v2_0.75_96,mobilenet_v2_0.35_128,mobilenet_v2_1.0_224 \
    --module_types=classification,feature_vector --versions=4,5 "${MODE[@]}"
