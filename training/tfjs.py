"""TF.js graph models (``model.json`` + weight shards) → PyTorch modules → ONNX.

TF.js ships pretrained networks as frozen TensorFlow graphs (``format: graph-model``): a list of
nodes (op, inputs, attributes) and a weights manifest whose shards hold every ``Const`` tensor,
float32 or quantized (uint8 / uint16 with ``scale`` and ``min``; float16). :func:`read_graph_model`
decodes both; :class:`TfjsGraph` evaluates the graph with torch ops, so the result trains
(float constants of rank >= 1 become parameters) and exports to ONNX like any project model.

Layout: TF graphs are NHWC; :class:`TfjsGraph` takes and keeps 4-D tensors NCHW (what ONNX Runtime
and the project's manifests use) and converts the constants and axis attributes instead. TF's
``SAME`` padding pads the extra row/column at the bottom/right when the total is odd; that is
reproduced with an explicit pad, not PyTorch's symmetric ``padding``.

Supported ops are the ones of the MobileNet / ResNet-style face models this project converts
(``SUPPORTED_OPS``); any other op is refused up front, naming it.

    /usr/bin/python3 -m training.tfjs --model DIR/faceres-deep.json --out faceres-deep.onnx \\
        --input-size 224 [--preprocess caffe] [--outputs global_pooling/Mean,gender_pred/Sigmoid]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Bytes per element of each stored dtype.
_DTYPE_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}

#: Keras "caffe" preprocessing (VGG / ResNet50 / faceres-deep): BGR, minus the ImageNet means, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

_UNARY = {
    "Relu": F.relu, "Relu6": lambda x: F.relu6(x), "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Elu": F.elu,
    "Identity": lambda x: x, "Neg": torch.neg, "Exp": torch.exp, "Sqrt": torch.sqrt, "Rsqrt": torch.rsqrt,
    "Square": lambda x: x * x, "Abs": torch.abs,
}
_BINARY = {
    "Add": torch.add, "AddV2": torch.add, "Sub": torch.sub, "Mul": torch.mul, "RealDiv": torch.div, "Div": torch.div,
    "Maximum": torch.maximum, "Minimum": torch.minimum, "SquaredDifference": lambda a, b: (a - b) * (a - b),
}
_CONV = ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
_OTHER = ("Placeholder", "Const", "BiasAdd", "MatMul", "_FusedMatMul", "Mean", "Sum", "Max", "Softmax", "Reshape",
          "Squeeze", "MaxPool", "AvgPool", "ConcatV2", "Prelu", "LeakyRelu", "Pad")
SUPPORTED_OPS = frozenset(list(_UNARY) + list(_BINARY) + list(_CONV) + list(_OTHER))

#: NHWC axis → NCHW axis, for attributes of 4-D tensors.
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class TfjsError(ValueError):
    """A TF.js model this converter cannot read (missing file, unknown op or dtype, bad shard size)."""


# --- reading ------------------------------------------------------------------------------------

def _dequantize(raw: bytes, entry: Mapping[str, Any]) -> np.ndarray:
    shape = [int(d) for d in entry["shape"]]
    n = int(np.prod(shape)) if shape else 1
    q = entry.get("quantization")
    if q is None:
        dtype = entry["dtype"]
        if dtype not in ("float32", "int32", "bool"):
            raise TfjsError(f"weight {entry['name']!r}: dtype {dtype!r} is not supported (float32, int32, bool)")
        arr = np.frombuffer(raw, dtype={"float32": "<f4", "int32": "<i4", "bool": "u1"}[dtype], count=n)
        return arr.astype(np.float32 if dtype == "float32" else np.int64).reshape(shape)
    qdtype = q["dtype"]
    if qdtype == "float16":
        arr = np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    elif qdtype in ("uint8", "uint16"):
        # TF.js: value = quantized * scale + min (affine quantization per tensor).
        ints = np.frombuffer(raw, dtype="u1" if qdtype == "uint8" else "<u2", count=n).astype(np.float64)
        arr = (ints * float(q["scale"]) + float(q.get("min", 0.0))).astype(np.float32)
    else:
        raise TfjsError(f"weight {entry['name']!r}: quantization dtype {qdtype!r} is not supported (uint8, uint16, float16)")
    if entry["dtype"] == "int32":
        return np.round(arr).astype(np.int64).reshape(shape)
    return arr.reshape(shape)


def read_graph_model(path: str) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """``model.json`` → (the parsed JSON, weight name → array); shards are read next to it."""
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
    except OSError as e:
        raise TfjsError(f"{path}: cannot read the TF.js model ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise TfjsError(f"{path}: not JSON ({e})") from None
    if model.get("format") not in (None, "graph-model") or "modelTopology" not in model or "node" not in model["modelTopology"]:
        raise TfjsError(f"{path}: not a TF.js graph model (format {model.get('format')!r}; layers models are not supported)")
    base = os.path.dirname(os.path.abspath(path))
    weights: Dict[str, np.ndarray] = {}
    for group in model.get("weightsManifest", []):
        data = b""
        for shard in group["paths"]:
            try:
                with open(os.path.join(base, shard), "rb") as f:
                    data += f.read()
            except OSError as e:
                raise TfjsError(f"{path}: weight shard {shard!r}: {e.strerror}") from None
        offset = 0
        for entry in group["weights"]:
            shape = [int(d) for d in entry["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = entry.get("quantization")
            size = n * _DTYPE_BYTES.get(q["dtype"] if q else entry["dtype"], 0)
            if size == 0:
                raise TfjsError(f"weight {entry['name']!r}: dtype {entry['dtype']!r} is not supported")
            if offset + size > len(data):
                raise TfjsError(f"{path}: weight shards hold {len(data)} bytes, {entry['name']!r} needs {offset + size}")
            weights[entry["name"]] = _dequantize(data[offset:offset + size], entry)
            offset += size
        if offset != len(data):
            raise TfjsError(f"{path}: weight shards {group['paths']} hold {len(data)} bytes, the manifest lists {offset}")
    return model, weights


# --- attributes ---------------------------------------------------------------------------------

def _attr(node: Mapping[str, Any], key: str, default: Any = None) -> Any:
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    return default


def _param_name(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _same_pads(size: int, k: int, s: int, d: int) -> Tuple[int, int]:
    """TF's SAME padding along one axis: (before, after); the odd pixel goes after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _activation(x: Tensor, op: str, alpha: Optional[Tensor], leak: float) -> Tensor:
    if op == "Relu":
        return F.relu(x)
    if op == "Relu6":
        return F.relu6(x)
    if op == "Elu":
        return F.elu(x)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "LeakyRelu":
        return F.leaky_relu(x, leak)
    if op == "Prelu":
        assert alpha is not None
        a = alpha.reshape(1, -1, *([1] * (x.dim() - 2))) if x.dim() > 2 else alpha
        return torch.where(x >= 0, x, x * a)
    raise TfjsError(f"fused activation {op!r} is not supported")


# --- the module ---------------------------------------------------------------------------------

class TfjsGraph(nn.Module):
    """A TF.js graph as a torch module: ``forward(x_nchw) -> {output name: tensor}``.

    ``outputs``: node names (``name`` or ``name:0``) to return; default the model's signature
    outputs. Only the nodes they need are kept. Float constants with rank >= 1 are parameters
    (named after the node, ``/`` → ``_``), the rest buffers."""

    def __init__(self, model: Mapping[str, Any], weights: Mapping[str, np.ndarray],
                 outputs: Optional[Sequence[str]] = None) -> None:
        super().__init__()
        nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
        if outputs is None:
            sig = (model.get("signature") or {}).get("outputs") or {}
            outputs = [v.get("name", k) for k, v in sig.items()]
            if not outputs:
                raise TfjsError("the model has no signature outputs; name the outputs")
        self.output_names = [o.split(":")[0] for o in outputs]
        order: List[str] = []
        seen: set = set()

        def visit(name: str) -> None:  # depth-first topological order of what the outputs need
            stack = [(name, False)]
            while stack:
                n, done = stack.pop()
                if done:
                    if n not in seen:
                        seen.add(n)
                        order.append(n)
                    continue
                if n in seen:
                    continue
                if n not in nodes:
                    raise TfjsError(f"node {n!r} is not in the graph")
                stack.append((n, True))
                for i in nodes[n].get("input", []):
                    src = i.lstrip("^").split(":")[0]
                    if src not in seen and not i.startswith("^"):
                        stack.append((src, False))

        for o in self.output_names:
            visit(o)
        unsupported = sorted({nodes[n]["op"] for n in order} - SUPPORTED_OPS)
        if unsupported:
            raise TfjsError(f"unsupported TF ops: {', '.join(unsupported)}")
        inputs = [n for n in order if nodes[n]["op"] == "Placeholder"]
        if len(inputs) != 1:
            raise TfjsError(f"expected one input (Placeholder), found {inputs}")
        self.input_name = inputs[0]
        dims = ((_attr_shape(nodes[self.input_name])) or [])
        self.input_shape_nhwc = dims
        self.nodes = [nodes[n] for n in order]
        self._const: Dict[str, str] = {}  # node name → attribute name of its tensor
        for n in self.nodes:
            if n["op"] != "Const":
                continue
            if n["name"] not in weights:
                raise TfjsError(f"constant {n['name']!r} has no weights in the manifest")
            arr = weights[n["name"]]
            key = _param_name(n["name"])
            t = torch.from_numpy(np.ascontiguousarray(arr))
            if arr.dtype == np.float32 and arr.ndim >= 1:
                self.register_parameter(key, nn.Parameter(t))
            else:
                self.register_buffer(key, t)
            self._const[n["name"]] = key

    # Constants are kept in TF layout; they are converted where an op consumes them, so the
    # parameters stay the TF.js tensors (a fine-tuned model can be compared weight by weight).
    def _value(self, env: Dict[str, Tensor], ref: str) -> Tensor:
        name = ref.split(":")[0]
        if name in self._const:
            return getattr(self, self._const[name])
        return env[name]

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        env: Dict[str, Tensor] = {}
        for n in self.nodes:
            op, name = n["op"], n["name"]
            if op == "Const":
                continue
            if op == "Placeholder":
                env[name] = x
                continue
            args = [self._value(env, i) for i in n.get("input", []) if not i.startswith("^")]
            env[name] = self._run(n, op, args)
        return {o: env[o] if o in env else self._value(env, o) for o in self.output_names}

    def _run(self, n: Mapping[str, Any], op: str, a: List[Tensor]) -> Tensor:
        if op in _UNARY:
            return _UNARY[op](a[0])
        if op in _BINARY:
            x, y = _broadcast_pair(a[0], a[1])
            return _BINARY[op](x, y)
        if op in _CONV:
            return self._conv(n, op, a)
        if op == "BiasAdd":
            return a[0] + (a[1].reshape(1, -1, 1, 1) if a[0].dim() == 4 else a[1])
        if op in ("MatMul", "_FusedMatMul"):
            x, w = a[0], a[1]
            if _attr(n, "transpose_a", False):
                x = x.t()
            if _attr(n, "transpose_b", False):
                w = w.t()
            y = x @ w
            return _fused(n, y, a[2:]) if op == "_FusedMatMul" else y
        if op in ("Mean", "Sum", "Max"):
            axes = a[1].reshape(-1).tolist()
            axes = [int(v) % a[0].dim() for v in axes]
            if a[0].dim() == 4:
                axes = [_NHWC_TO_NCHW[v] for v in axes]
            keep = bool(_attr(n, "keep_dims", False))
            if op == "Mean":
                return a[0].mean(dim=axes, keepdim=keep)
            if op == "Sum":
                return a[0].sum(dim=axes, keepdim=keep)
            return a[0].amax(dim=axes, keepdim=keep)
        if op == "Softmax":
            return F.softmax(a[0], dim=1 if a[0].dim() == 4 else -1)
        if op == "Reshape":
            x = a[0].permute(0, 2, 3, 1) if a[0].dim() == 4 else a[0]
            y = x.reshape([int(v) for v in a[1].reshape(-1).tolist()])
            return y.permute(0, 3, 1, 2) if y.dim() == 4 else y
        if op == "Squeeze":
            dims = _attr(n, "squeeze_dims", []) or []
            x = a[0]
            if x.dim() == 4:
                x = x.permute(0, 2, 3, 1)
            return x.squeeze(tuple(int(d) for d in dims)) if dims else x.squeeze()
        if op in ("MaxPool", "AvgPool"):
            return _pool(n, op, a[0])
        if op == "ConcatV2":
            axis = int(a[-1].reshape(-1)[0])
            parts = a[:-1]
            if parts[0].dim() == 4:
                axis = _NHWC_TO_NCHW[axis % 4]
            return torch.cat(parts, dim=axis)
        if op == "Prelu":
            return _activation(a[0], "Prelu", _to_nchw_const(a[1], a[0]), 0.0)
        if op == "LeakyRelu":
            return F.leaky_relu(a[0], float(_attr(n, "alpha", 0.2)))
        if op == "Pad":
            p = a[1].reshape(-1, 2).tolist()
            if a[0].dim() == 4:  # NHWC pads → F.pad's last-dim-first order on NCHW
                p = [p[0], p[3], p[1], p[2]]
            flat: List[int] = []
            for before, after in reversed(p):
                flat += [int(before), int(after)]
            return F.pad(a[0], flat)
        raise TfjsError(f"op {op!r} is not supported")  # pragma: no cover - refused in __init__

    def _conv(self, n: Mapping[str, Any], op: str, a: List[Tensor]) -> Tensor:
        x, w = a[0], a[1]
        if (_attr(n, "data_format", "NHWC") or "NHWC") != "NHWC":
            raise TfjsError(f"{n['name']}: data_format {_attr(n, 'data_format')!r} is not supported (NHWC)")
        strides = _attr(n, "strides", [1, 1, 1, 1])
        dil = _attr(n, "dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        kh, kw = int(w.shape[0]), int(w.shape[1])
        depthwise = "Depthwise" in op
        if depthwise:  # [H, W, C, M] → [C*M, 1, H, W]
            c, m = int(w.shape[2]), int(w.shape[3])
            weight = w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
            groups = c
        else:  # HWIO → OIHW
            weight = w.permute(3, 2, 0, 1)
            groups = 1
        padding = _attr(n, "padding", "VALID")
        if padding == "SAME":
            ph = _same_pads(int(x.shape[2]), kh, strides[1], dil[1])
            pw = _same_pads(int(x.shape[3]), kw, strides[2], dil[2])
        elif padding == "EXPLICIT":
            e = _attr(n, "explicit_paddings", [])
            ph, pw = (e[2], e[3]), (e[4], e[5])
        else:
            ph, pw = (0, 0), (0, 0)
        if ph[0] == ph[1] and pw[0] == pw[1]:
            pad: Any = (ph[0], pw[0])
        else:
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
            pad = 0
        y = F.conv2d(x, weight, None, (strides[1], strides[2]), pad, (dil[1], dil[2]), groups)
        if op.startswith("_Fused") or op.startswith("Fused"):
            return _fused(n, y, a[2:])
        return y


def _attr_shape(node: Mapping[str, Any]) -> Optional[List[int]]:
    s = node.get("attr", {}).get("shape", {}).get("shape", {})
    dims = s.get("dim")
    return [int(d.get("size", -1)) for d in dims] if dims else None


def _to_nchw_const(c: Tensor, like: Tensor) -> Tensor:
    """A constant in TF layout, broadcastable against a 4-D NCHW activation."""
    if like.dim() != 4 or c.dim() == 0:
        return c
    if c.dim() == 1:
        return c.reshape(-1, 1, 1)
    if c.dim() == 3:
        return c.permute(2, 0, 1)
    if c.dim() == 4:
        return c.permute(0, 3, 1, 2)
    return c


def _broadcast_pair(x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    if x.dim() == 4 and y.dim() < 4:
        return x, _to_nchw_const(y, x)
    if y.dim() == 4 and x.dim() < 4:
        return _to_nchw_const(x, y), y
    return x, y


def _fused(n: Mapping[str, Any], y: Tensor, extra: List[Tensor]) -> Tensor:
    ops = _attr(n, "fused_ops", []) or []
    rest = list(extra)
    for op in ops:
        if op == "BiasAdd":
            b = rest.pop(0)
            y = y + (b.reshape(1, -1, 1, 1) if y.dim() == 4 else b)
        elif op == "Prelu":
            y = _activation(y, "Prelu", rest.pop(0), 0.0)
        else:
            y = _activation(y, op, None, float(_attr(n, "leakyrelu_alpha", 0.2)))
    return y


def _pool(n: Mapping[str, Any], op: str, x: Tensor) -> Tensor:
    k = _attr(n, "ksize", [1, 1, 1, 1])
    s = _attr(n, "strides", [1, 1, 1, 1])
    ph, pw = (0, 0), (0, 0)
    if _attr(n, "padding", "VALID") == "SAME":
        ph = _same_pads(int(x.shape[2]), k[1], s[1], 1)
        pw = _same_pads(int(x.shape[3]), k[2], s[2], 1)
    if op == "MaxPool":
        if ph != (0, 0) or pw != (0, 0):
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
        return F.max_pool2d(x, (k[1], k[2]), (s[1], s[2]))
    if ph != (0, 0) or pw != (0, 0):
        # TF's SAME average excludes the padding from the count: divide by a pooled mask of ones.
        ones = torch.ones_like(x[:, :1])
        xp = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        mp = F.pad(ones, (pw[0], pw[1], ph[0], ph[1]))
        return F.avg_pool2d(xp, (k[1], k[2]), (s[1], s[2])) / F.avg_pool2d(mp, (k[1], k[2]), (s[1], s[2]))
    return F.avg_pool2d(x, (k[1], k[2]), (s[1], s[2]))


class CaffePreprocess(nn.Module):
    """RGB in 0..1 (the project's ``scale`` normalisation) → Keras "caffe" input: BGR 0..255 minus
    the ImageNet means. Baked into an exported graph so its manifest says plain RGB / 255."""

    def __init__(self, mean_bgr: Sequence[float] = CAFFE_BGR_MEAN) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean_bgr, dtype=torch.float32).reshape(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x.flip(1) * 255.0 - self.mean


def load(path: str, outputs: Optional[Sequence[str]] = None) -> TfjsGraph:
    model, weights = read_graph_model(path)
    return TfjsGraph(model, weights, outputs)


class _Exported(nn.Module):
    def __init__(self, graph: TfjsGraph, preprocess: Optional[nn.Module]) -> None:
        super().__init__()
        self.graph, self.pre = graph, preprocess

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.pre is not None:
            x = self.pre(x)
        out = self.graph(x)
        return tuple(out[o] for o in self.graph.output_names)


def export_onnx(graph: TfjsGraph, out: str, input_size: int, channels: int = 3, preprocess: Optional[str] = None) -> List[str]:
    """Writes ``out`` (opset 13, dynamic batch, input ``input`` NCHW); returns the output names
    (``/`` and ``:`` → ``_``)."""
    pre = CaffePreprocess() if preprocess == "caffe" else None
    if preprocess not in (None, "caffe"):
        raise TfjsError(f"unknown preprocess {preprocess!r} (caffe or none)")
    names = [_param_name(o) for o in graph.output_names]
    wrapper = _Exported(graph, pre).eval()
    dummy = torch.zeros(1, channels, input_size, input_size)
    torch.onnx.export(wrapper, (dummy,), out, input_names=["input"], output_names=names, opset_version=13,
                      dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}})
    return names


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="TF.js model.json (graph model)")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--input-size", type=int, default=None, help="square input size (default: the model's)")
    ap.add_argument("--outputs", default=None, help="comma-separated node names (default: signature outputs)")
    ap.add_argument("--preprocess", choices=["none", "caffe"], default="none",
                    help="caffe: the ONNX input is RGB 0..1; BGR, x255 and minus the ImageNet means are in the graph")
    args = ap.parse_args(argv)
    graph = load(args.model, args.outputs.split(",") if args.outputs else None).eval()
    size = args.input_size or (graph.input_shape_nhwc[1] if graph.input_shape_nhwc and graph.input_shape_nhwc[1] > 0 else None)
    if size is None:
        ap.error("the model does not fix its input size; pass --input-size")
    channels = graph.input_shape_nhwc[3] if graph.input_shape_nhwc and graph.input_shape_nhwc[3] > 0 else 3
    names = export_onnx(graph, args.out, size, channels, None if args.preprocess == "none" else args.preprocess)
    print(json.dumps({"out": args.out, "input": [1, channels, size, size], "outputs": names,
                      "parameters": sum(p.numel() for p in graph.parameters())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
