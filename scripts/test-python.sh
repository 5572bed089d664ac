#!/usr/bin/env bash
# Runs the Python training package's tests (training/tests) with Debian's interpreter, which has
# PyTorch; the parity tests also need node with onnxruntime-node (npm install). Exit status is the
# test suite's. Extra arguments go to pytest (e.g. scripts/test-python.sh -k export).
set -u
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
  echo "test-python: $PY not found. Install Debian's Python with PyTorch:" >&2
  echo "  apt-get install python3 python3-torch python3-onnx python3-pytest python3-numpy" >&2
  exit 2
fi
if ! missing=$("$PY" - <<'PYEOF' 2>&1
import importlib.util, sys
need = ["torch", "onnx", "numpy", "pytest"]
gone = [m for m in need if importlib.util.find_spec(m) is None]
print(" ".join(gone))
sys.exit(1 if gone else 0)
PYEOF
); then
  echo "test-python: $PY lacks: $missing" >&2
  echo "  apt-get install python3-torch python3-onnx python3-pytest python3-numpy" >&2
  echo "  (use Debian's /usr/bin/python3, not a pyenv/venv python without torch)" >&2
  exit 2
fi
if ! command -v node >/dev/null 2>&1; then
  echo "test-python: node not found; the ONNX parity tests run models in onnxruntime-node" >&2
  exit 2
fi
exec "$PY" -m pytest -q training/tests "$@"
