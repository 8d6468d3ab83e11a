#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent GPU machine (a bare image with python3,
# torch, torchvision, timm, typer, rich and pytest). Packages that image lacks travel as wheels
# in .whl/ (see the README, "GPU check"). Every step is time-boxed; output goes to stdout and,
# when $OUT is set, to $OUT/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}/gpu_check.log
exec > >(tee "$LOG") 2>&1
export PYTHONUNBUFFERED=1

step() { echo; echo "=== $1"; }

step "setup"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
# automl.cli / automl.engine / automl.schemas straight from this checkout (no build step).
mkdir -p /tmp/pkg/automl
for part in cli engine schemas; do ln -sfn "$PWD/$part" "/tmp/pkg/automl/$part"; done
export PYTHONPATH=/tmp/pkg:/tmp/site
nvidia-smi -L
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'tv', torchvision.__version__, 'cuda', torch.cuda.is_available())"

step "gpu tests (pytest -m gpu)"
timeout 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests

step "demo job on the GPU at full size (224 px crop, 15 epochs, from scratch)"
time timeout 240 python3 -m automl.cli.main job create \
  --file examples/jobs/demo_classification.yml --run-dir /tmp/gpu_demo \
  --set training_parameters.training_crop_size=224 \
  --set training_parameters.validation_resize_size=256 \
  --set training_parameters.validation_crop_size=224 \
  --set training_parameters.training_batch_size=32 \
  --set training_parameters.number_of_workers=8

step "detection job on the GPU (Faster R-CNN resnet50 FPN from scratch, raccoon, 4 epochs)"
time timeout 200 python3 -m automl.cli.main job create \
  --file examples/jobs/object_detection.yml --run-dir /tmp/gpu_det \
  --set training_parameters.pretrained=false --set training_parameters.number_of_epochs=4

step "bench: serving on the GPU (resnet18, 224 px)"
timeout 150 python3 bench/serving.py --device cuda --requests 200

step "bench: data pipeline (CPU, quiet 16-core machine)"
CUDA_VISIBLE_DEVICES="" timeout 120 python3 bench/data_pipeline.py

step "bench: trial overhead (CPU)"
CUDA_VISIBLE_DEVICES="" timeout 240 python3 bench/trial_overhead.py --epochs 2

echo; echo "gpu_check done"
