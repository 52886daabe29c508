#!/usr/bin/env bash
# The main job end to end on a fresh machine: set up .venv; make a SYNTHETIC 0.75/96 checkpoint
# (random weights, not ImageNet); export it as TF Hub's classification and feature-vector
# SavedModels (version 5) and as a Keras 3 file; verify them against the checkpoint; classify
# an example picture with the SavedModel and with the Keras file.
#
#   bash scripts/quickstart.sh [--checkpoint_path=PATH]
#
# CHECKPOINT=PATH (or --checkpoint_path=PATH) runs the same on a real mobilenet_v2_0.75_96
# checkpoint: a prefix (…/mobilenet_v2_0.75_96.ckpt) or the released .tgz. OUT=DIR chooses
# where everything goes (default: quickstart_out/ in the project); VENV=DIR the virtualenv.
set -euo pipefail

for argument in "$@"; do
  case "$argument" in
    --checkpoint_path=*) CHECKPOINT="${argument#*=}" ;;
    # The usage is the header comment above, whole, however long it grows.
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "quickstart.sh: unknown argument $argument (see --help)" >&2; exit 2 ;;
  esac
done

source "$(dirname "${BASH_SOURCE[0]}")/setup_venv.sh"
cd "$PROJECT_ROOT"
OUT="${OUT:-$PROJECT_ROOT/quickstart_out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
VARIANT=mobilenet_v2_075_96

step() { printf '\n== %s\n' "$*"; }

if [ -z "${CHECKPOINT:-}" ]; then
  step "Making a synthetic checkpoint"
  echo "No CHECKPOINT given: the checkpoint made here has RANDOM weights, not ImageNet's."
  echo "Everything below runs for real, but its predictions mean nothing."
  python scripts/make_synthetic_checkpoint.py --depth_multiplier=0.75 --image_size=96 \
      --output_dir="$OUT/checkpoint" --seed=0
  CHECKPOINT="$OUT/checkpoint/mobilenet_v2_0.75_96.ckpt"
  WEIGHTS="synthetic, RANDOM weights"
else
  WEIGHTS="given checkpoint"
fi

for module_type in classification feature_vector; do
  step "Exporting the $module_type module (version 5)"
  python -m export.export_saved_model --checkpoint_path="$CHECKPOINT" --variant="$VARIANT" \
      --module_type="$module_type" --version=5 --export_dir="$OUT/$module_type" --overwrite
done

step "Exporting the classifier as a Keras 3 file"
python -m export.export_keras --checkpoint_path="$CHECKPOINT" --variant="$VARIANT" \
    --module_type=classification --output="$OUT/classification.keras" --overwrite

for module_type in classification feature_vector; do
  step "Verifying the $module_type module against the checkpoint"
  python -m export.verify --export_dir="$OUT/$module_type" --checkpoint_path="$CHECKPOINT" \
      --variant="$VARIANT" --module_type="$module_type" \
      --report="$OUT/verify_$module_type.json"
done

step "Verifying the Keras 3 file against the checkpoint"
python -m export.verify --export_dir="$OUT/classification.keras" --checkpoint_path="$CHECKPOINT" \
    --variant="$VARIANT" --module_type=classification

step "Classifying an example picture"
python scripts/make_example_image.py --output="$OUT/example.png" >/dev/null
python -m export.classify --export_dir="$OUT/classification" "$OUT/example.png"
echo "The same picture through the Keras 3 file:"
python -m export.classify --export_dir="$OUT/classification.keras" --top_k=1 "$OUT/example.png"
if [ "$WEIGHTS" != "given checkpoint" ]; then
  echo "(Random weights: these labels are arbitrary.)"
fi

step "Done; everything is under $OUT"
echo "  checkpoint       $CHECKPOINT ($WEIGHTS)"
echo "  classification   $OUT/classification  (report: $OUT/verify_classification.json)"
echo "  feature vector   $OUT/feature_vector  (report: $OUT/verify_feature_vector.json)"
echo "  Keras 3 file     $OUT/classification.keras"
echo "  example picture  $OUT/example.png"
echo "To run the project's commands yourself: source $VENV/bin/activate"
