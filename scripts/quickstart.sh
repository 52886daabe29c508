#!/usr/bin/env bash
# The main job end to end on a fresh machine: set up .venv, make a SYNTHETIC 0.75/96 checkpoint
# (random weights, not ImageNet), export it as TF Hub's classification and feature-vector
# SavedModels (version 5). With CHECKPOINT=path/to/mobilenet_v2_0.75_96.ckpt (or a released
# .tgz) the same runs on a real checkpoint; OUT=dir chooses where everything goes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_venv.sh"
cd "$PROJECT_ROOT"
OUT="${OUT:-$PROJECT_ROOT/quickstart_out}"
mkdir -p "$OUT"
if [ -z "${CHECKPOINT:-}" ]; then
  echo "No CHECKPOINT given: making a synthetic checkpoint with RANDOM weights (not ImageNet)."
  python scripts/make_synthetic_checkpoint.py --depth_multiplier=0.75 --image_size=96 \
      --output_dir="$OUT/checkpoint" --seed=0
  CHECKPOINT="$OUT/checkpoint/mobilenet_v2_0.75_96.ckpt"
fi
for module_type in classification feature_vector; do
  python -m export.export_saved_model --checkpoint_path="$CHECKPOINT" --variant=mobilenet_v2_075_96 \
      --module_type="$module_type" --export_dir="$OUT/$module_type" --overwrite
done
echo "Done: SavedModels in $OUT/classification and $OUT/feature_vector"
