#!/usr/bin/env bash
# Wheels for a GPU machine whose Python already holds torch, torchvision, timm, OpenCV, numpy, pandas, scipy and
# scikit-learn (a Kaggle kernel, a cloud image) but not the rest of what the image competitions import, for one
# that cannot reach PyPI itself. Run it where pip can reach PyPI; carry the folder over; install there with
#
#     python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
#
#     bash scripts/gpu_wheels.sh [FOLDER (default .whl)] [PYTHON VERSION (default 3.12)]
#
# The versions are this checkout's (requirements.txt and the packages they pull in), for Linux x86-64.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.whl}"
python_version="${2:-3.12}"
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
# What the image engine imports that such images lack, with what those need in turn (not torch, timm, numpy...).
names=(albumentations albucore pydantic pydantic-core annotated-types typing-inspection simsimd stringzilla
       pycocotools ensemble-boxes lightgbm narwhals)
mkdir -p "$out"
for name in "${names[@]}"; do
  version="$("$PYTHON" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')"
  if [ -z "$version" ]; then
    echo "gpu_wheels: $name is not installed in $PYTHON; run make install first (or set PYTHON)." >&2
    exit 1
  fi
  platforms=()
  for n in 39 35 34 31 28 27 24 17; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
    --implementation cp "${platforms[@]}" --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform any -d "$out" "$name==$version"
done
ls "$out"
du -sh "$out"
