"""Shared fixtures. Tests run on 2 shared CPU cores: keep every model tiny or every input small."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Dict

import numpy as np
import pytest
import torch

from .packutil import make_pack

# One thread: the machine is shared (2 cores); oversubscribed OpenMP threads spin and run 5-10x slower.
torch.set_num_threads(1)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORT_RUN = os.path.join(REPO, "training", "tests", "ort_run.mjs")
VALIDATE = os.path.join(REPO, "training", "tests", "validate_manifest.mjs")


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not on PATH: the ONNX parity tests run models in onnxruntime-node (npm install)")
    return exe


def run_ort(model_path: str, x: np.ndarray, tmp_dir: str) -> Dict[str, np.ndarray]:
    """Runs an ONNX model in onnxruntime-node (what the analyzer ships with) → {output: array}."""
    inp = os.path.join(tmp_dir, "ort_input.npy")
    out = os.path.join(tmp_dir, "ort_output.json")
    np.save(inp, np.ascontiguousarray(x, dtype=np.float32))
    proc = subprocess.run([node(), ORT_RUN, model_path, inp, out], cwd=REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"onnxruntime-node failed on {model_path}:\n{proc.stderr}")
    with open(out, encoding="utf-8") as f:
        res = json.load(f)
    return {k: np.asarray(v["data"], dtype=np.float32).reshape(v["dims"]) for k, v in res["outputs"].items()}


def validate_manifests(*paths: str) -> None:
    """Checks manifests with src/core/models/manifest.ts validateManifest (transpiled on the fly)."""
    proc = subprocess.run([node(), VALIDATE, *paths], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"validateManifest rejected a manifest:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture
def pack_dir(tmp_path) -> str:
    return make_pack(str(tmp_path / "pack"))


@pytest.fixture
def joint_pack_dir(tmp_path) -> str:
    return make_pack(str(tmp_path / "joint"), extra_targets=True)
