#!/usr/bin/env bash
# Downloads into .whl/ (git-ignored) the wheels of the packages that the lent GPU machine's
# image lacks, for bench/gpu_check.sh: run it HERE, on a machine with a package registry,
# before the device call (that machine has no network). CPython 3.12, x86-64 manylinux,
# no dependencies resolved (--no-deps): the list below is the closure of what our engine,
# fastapi/uvicorn, optuna and ultralytics need beyond torch, torchvision, timm, numpy,
# pillow, scipy, matplotlib, scikit-image, opencv, httpx, typer, rich, pyyaml, requests,
# psutil, nvidia-ml-py and pytest, which the image has. Versions: constraints.txt where it
# pins the package, else the newest. polars (40 MB; Ultralytics only copies results.csv
# into its checkpoints with it) is left out: gpu_check.sh puts a stub in its place.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="ruamel.yaml jsonschema jsonschema-specifications referencing rpds-py optuna alembic
mako sqlalchemy colorlog pycocotools captum saliency fastapi starlette pydantic pydantic-core
annotated-types typing-inspection typing-extensions opentelemetry-api
uvicorn ultralytics ultralytics-thop"
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"

pinned() {  # name==version from constraints.txt (names compared case- and -/_/. -blind)
  local want
  want=$(echo "$1" | tr 'A-Z_.' 'a-z--')
  while IFS= read -r line; do
    case "$line" in \#*|"") continue ;; esac
    if [ "$(echo "${line%%==*}" | tr 'A-Z_.' 'a-z--')" = "$want" ]; then echo "$line"; return; fi
  done < constraints.txt
  echo "$1"
}

mkdir -p .whl
for name in $PACKAGES; do
  # shellcheck disable=SC2086  # PLATFORMS is a list of options
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp $PLATFORMS -d .whl "$(pinned "$name")"
done
ls .whl | sort
du -sh .whl
