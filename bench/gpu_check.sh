#!/usr/bin/env bash
# The GPU measurements of issue 18 as ONE script for one call on a lent GPU machine, and the
# same steps at CPU sizes with --quick (a check of every path before spending device time).
#
#   here, first (network):  bash bench/gpu_wheels.sh      # wheels the GPU image lacks -> .whl/
#   on the GPU machine:     bash bench/gpu_check.sh       # device call: carry .whl, ~6-7 min
#   on a CPU:               bash bench/gpu_check.sh --quick
#
# The GPU machine is a bare image (python3 with torch, torchvision, timm, typer, rich, pytest,
# httpx, nvidia-ml-py, ...) and no network: the packages it lacks travel as wheels in .whl/
# and are installed into /tmp/site; automl runs from this checkout through symlinks (no build
# step); polars, which Ultralytics imports only to copy results.csv into its checkpoints,
# is replaced by a stub there. Where automl already imports (a dev .venv), nothing is set up.
#
# Steps, each time-boxed (full sizes; the budget keeps the whole call under 10 minutes):
#   env            nvidia-smi, versions, CPUs                          -> env.txt
#   gpu tests      pytest -m gpu (the CUDA path end to end)              60 s
#   gpu_train      bench/gpu_train.py: ViT-S/16 and ResNet-50, our trial vs a plain loop,
#                  utilisation, MFU, loader bottleneck, the fixes      -> gpu_train.json  270 s
#   serving        bench/serving.py --device cuda --phases             -> serving.json     60 s
#   detection      bench/gpu_detection.py: Faster/Mask R-CNN trials    -> detection.json   75 s
#   yolo           bench/yolo_vs_ultralytics.py on the GPU             -> yolo.json        90 s
# Everything goes to $OUT (default /tmp/gpu_check): gpu_check.log (all output), results.md
# (every bench's markdown section), env.txt and the JSON files above: 7 files.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK="--quick"
OUT_DIR=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR/results.md"
exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg YOLO_OFFLINE=1
export YOLO_CONFIG_DIR=/tmp/gpu_check_ultralytics AUTOML_HOME=/tmp/gpu_check_home
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
SUMMARY=()
FAILED=0

# step NAME FULL_SECONDS COMMAND...: time-boxed (no box with --quick: CPUs vary too much)
step() {
  local name=$1 budget=$2 started code
  shift 2
  echo; echo "=== $name ($(date +%H:%M:%S))"
  started=$(date +%s)
  if [ -n "$QUICK" ]; then "$@"; else timeout -s TERM -k 15 "$budget" "$@"; fi
  code=$?
  [ "$code" -eq 0 ] || FAILED=1
  SUMMARY+=("$(printf '%-11s exit %3d  %4d s' "$name" "$code" $(( $(date +%s) - started )))")
}

setup() {
  if $PY -c "import automl.engine" 2>/dev/null; then return 0; fi
  if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || return 1
  fi
  mkdir -p /tmp/pkg/automl /tmp/site
  for part in cli engine schemas; do ln -sfn "$PWD/$part" "/tmp/pkg/automl/$part"; done
  export PYTHONPATH=/tmp/pkg:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  if ! $PY -c "import polars" 2>/dev/null; then
    mkdir -p /tmp/site/polars
    cat > /tmp/site/polars/__init__.py <<'EOF'
"""Stub (bench/gpu_check.sh): Ultralytics' read_results_csv calls read_csv in a try."""


def read_csv(*args, **kwargs):
    raise RuntimeError("polars is not installed on this machine (bench/gpu_check.sh stub)")
EOF
  fi
  $PY -c "import automl.engine, automl.cli.main, fastapi, uvicorn, optuna" || return 1
  $PY -c "import ultralytics" || echo "WARNING: ultralytics does not import: the yolo step fails"
}

environment() {
  { nvidia-smi 2>/dev/null || echo "no nvidia-smi"
    echo "CPUs: $(nproc)"; free -g | head -2
    $PY -c "import sys, torch, torchvision; print('python', sys.version.split()[0], 'torch',
torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda,
'available', torch.cuda.is_available())"
    git log -1 --format='commit %H %s' 2>/dev/null || true
  } > "$OUT_DIR/env.txt" 2>&1
  cat "$OUT_DIR/env.txt"
}

gpu_tests() {
  local files
  files=$(grep -rl "pytest.mark.gpu" tests)
  # shellcheck disable=SC2086  # a list of files
  $PY -m pytest -q -p no:cacheprovider -m gpu $files
}

echo "=== setup ($(date +%H:%M:%S)), python: $PY"
setup || { echo "setup failed: see above (missing wheels? run bench/gpu_wheels.sh)"; exit 1; }
step env 30 environment
step "gpu tests" 60 gpu_tests
R=(--markdown "$OUT_DIR/results.md")
if [ -n "$QUICK" ]; then
  step gpu_train 0 $PY bench/gpu_train.py --quick --json "$OUT_DIR/gpu_train.json" "${R[@]}"
  step serving 0 $PY bench/serving.py --quick --phases --json "$OUT_DIR/serving.json" "${R[@]}"
  step detection 0 $PY bench/gpu_detection.py --quick --json "$OUT_DIR/detection.json" "${R[@]}"
  step yolo 0 $PY bench/yolo_vs_ultralytics.py --quick --json "$OUT_DIR/yolo.json" "${R[@]}"
else
  step gpu_train 270 $PY bench/gpu_train.py --device cuda \
    --models vits16r224:ours+plain,resnet50 --compile resnet50 \
    --json "$OUT_DIR/gpu_train.json" "${R[@]}"
  step serving 60 $PY bench/serving.py --device cuda --phases --requests 300 \
    --json "$OUT_DIR/serving.json" "${R[@]}"
  step detection 75 $PY bench/gpu_detection.py --device cuda --epochs 4 \
    --json "$OUT_DIR/detection.json" "${R[@]}"
  step yolo 90 $PY bench/yolo_vs_ultralytics.py --device cuda --model yolov8 \
    --model-size small --epochs 10 --image-size 640 --batch 16 --workers 8 \
    --json "$OUT_DIR/yolo.json" "${R[@]}"
fi

echo; echo "=== results.md"
cat "$OUT_DIR/results.md" 2>/dev/null
echo; echo "=== summary (exit 124: stopped at its time box; partial JSON is kept)"
printf '%s\n' "${SUMMARY[@]}"
echo "files in $OUT_DIR: $(ls "$OUT_DIR" | tr '\n' ' ')"
echo "gpu_check done"
exit "$FAILED"
