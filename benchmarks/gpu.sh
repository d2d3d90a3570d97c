#!/usr/bin/env bash
# Every published figure on one CUDA GPU, each whole `layerlr run` timed, then the engine
# benchmark on CUDA; one table. About 3-6 minutes on one modern GPU.
#
#     bash benchmarks/gpu.sh            # PYTHON=path/to/python to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "error: torch ($PYTHON) sees no CUDA GPU; run this on a machine with one and a" \
         "CUDA build of torch (see the README)" >&2
    exit 2
fi
exec "$PYTHON" benchmarks/gpu.py "$@"
