"""Static int8 quantization of a classifier's convolutions, in ONNX QDQ form (issue 19).

Debian ships no python3-onnxruntime (and so no onnxruntime.quantization); this does the part the
classifiers need with onnx + numpy, and the calibration runs in TypeScript on onnxruntime-node
(scripts/calibrate.ts), where the crops are prepared exactly as the analyzer prepares them:

    python3 -m training.quantize expose models/X.onnx /tmp/X.exposed.onnx /tmp/X.tensors.json
    node dist/scripts/calibrate.js --model X --exposed /tmp/X.exposed.onnx --tensors /tmp/X.tensors.json --out /tmp/X.ranges.json
    python3 -m training.quantize apply models/X.onnx /tmp/X.ranges.json models/X-int8.onnx

`apply` puts QuantizeLinear/DequantizeLinear pairs around every Conv: activations uint8
(asymmetric, from the calibrated min/max), weights int8 symmetric per output channel, biases int32
at the product of the two scales. A Relu that is a Conv's only consumer is folded into the Conv's
output quantization (zero point 0 clamps as Relu does). onnxruntime's graph optimizer (level
extended/all, the shipped setting) fuses each DequantizeLinear→Conv→QuantizeLinear into
QLinearConv with int8 kernels. Gemm heads, Add and ReduceMean stay float (cheap, and the heads
decide the accuracy).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def conv_activations(model: onnx.ModelProto) -> list[str]:
    """The tensors whose ranges `apply` needs: each Conv's input and output, and the Relu outputs."""
    g = model.graph
    names: list[str] = []
    for n in g.node:
        if n.op_type == 'Conv':
            names += [n.input[0], n.output[0]]
        elif n.op_type == 'Relu':
            names.append(n.output[0])
    seen: set[str] = set()
    return [x for x in names if not (x in seen or seen.add(x))]


def expose(src: Path, dst: Path, tensors_json: Path) -> None:
    """Writes `src` with every tensor of conv_activations as an extra graph output."""
    model = onnx.load(str(src))
    names = conv_activations(model)
    existing = {o.name for o in model.graph.output}
    for name in names:
        if name not in existing:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(model, str(dst))
    tensors_json.write_text(json.dumps(names))


def activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """uint8 scale and zero point covering [lo, hi] (widened to include 0, as zero must be exact)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return scale, zp


def apply(src: Path, ranges_json: Path, dst: Path) -> dict:
    model = onnx.load(str(src))
    g = model.graph
    ranges: dict[str, list[float]] = json.loads(ranges_json.read_text())
    inits = {t.name: t for t in g.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in g.output}

    new_inits: list[onnx.TensorProto] = []
    dequantized: dict[str, str] = {}  # float tensor → its QDQ'd copy
    qparams: dict[str, tuple[float, int]] = {}
    pre: dict[int, list[onnx.NodeProto]] = {}   # node index → nodes to insert before it
    post: dict[int, list[onnx.NodeProto]] = {}  # node index → nodes to insert after it
    removed: set[int] = set()
    index = {id(n): k for k, n in enumerate(g.node)}

    def scalar_inits(name: str, scale: float, zp: int) -> tuple[str, str]:
        s, z = f'{name}_scale', f'{name}_zero_point'
        new_inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), s))
        new_inits.append(numpy_helper.from_array(np.array(zp, dtype=np.uint8), z))
        return s, z

    def qdq(tensor: str, out_name: str, lo: float, hi: float) -> list[onnx.NodeProto]:
        scale, zp = activation_qparams(lo, hi)
        qparams[out_name] = (scale, zp)
        s, z = scalar_inits(tensor, scale, zp)
        q = f'{tensor}_quantized'
        return [helper.make_node('QuantizeLinear', [tensor, s, z], [q], name=f'{tensor}_Q'),
                helper.make_node('DequantizeLinear', [q, s, z], [out_name], name=f'{tensor}_DQ')]

    quantized = 0
    for k, n in enumerate(g.node):
        if n.op_type != 'Conv' or n.input[1] not in inits:
            continue
        x = n.input[0]
        # Input activation: reuse the QDQ'd copy when an earlier Conv's output quantization made one.
        if x not in qparams:
            if x not in dequantized:
                lo, hi = ranges[x]
                dq = f'{x}_dq'
                nodes = qdq(x, dq, lo, hi)
                qparams[x] = qparams.pop(dq)
                dequantized[x] = dq
                pre.setdefault(k, []).extend(nodes)
        n.input[0] = dequantized.get(x, x)
        sx = qparams[x][0]
        # Weights: int8, symmetric, one scale per output channel (axis 0).
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        sw = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        wq = np.clip(np.round(w / sw.reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
        wn = n.input[1]
        new_inits += [numpy_helper.from_array(wq, f'{wn}_quantized'), numpy_helper.from_array(sw, f'{wn}_scale'),
                      numpy_helper.from_array(np.zeros_like(sw, dtype=np.int8), f'{wn}_zero_point')]
        dq_nodes = [helper.make_node('DequantizeLinear', [f'{wn}_quantized', f'{wn}_scale', f'{wn}_zero_point'], [f'{wn}_dq'], name=f'{wn}_DQ', axis=0)]
        n.input[1] = f'{wn}_dq'
        if len(n.input) > 2 and n.input[2] in inits:
            b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
            sb = (sx * sw).astype(np.float32)
            bq = np.round(b / sb.astype(np.float64)).astype(np.int32)
            bn = n.input[2]
            new_inits += [numpy_helper.from_array(bq, f'{bn}_quantized'), numpy_helper.from_array(sb, f'{bn}_scale'),
                          numpy_helper.from_array(np.zeros_like(bq, dtype=np.int32), f'{bn}_zero_point')]
            dq_nodes.append(helper.make_node('DequantizeLinear', [f'{bn}_quantized', f'{bn}_scale', f'{bn}_zero_point'], [f'{bn}_dq'], name=f'{bn}_DQ', axis=0))
            n.input[2] = f'{bn}_dq'
        pre.setdefault(k, []).extend(dq_nodes)
        # Output: quantized, with a sole Relu consumer folded in (range from the Relu's output).
        y = n.output[0]
        users = consumers.get(y, [])
        if len(users) == 1 and users[0].op_type == 'Relu' and y not in graph_outputs:
            relu = users[0]
            removed.add(index[id(relu)])
            target = relu.output[0]
            lo, hi = 0.0, ranges[target][1]
        else:
            target = y
            lo, hi = ranges[y]
        raw = f'{target}_float'
        n.output[0] = raw
        nodes = qdq(raw, target, lo, hi)
        qparams[target] = qparams.pop(target)
        dequantized[target] = target  # already QDQ'd: a later Conv reading it needs no new pair
        post.setdefault(k, []).extend(nodes)
        quantized += 1

    nodes: list[onnx.NodeProto] = []
    for k, n in enumerate(g.node):
        nodes += pre.get(k, [])
        if k not in removed:
            nodes.append(n)
        nodes += post.get(k, [])
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep + [t for t in new_inits if t.name in used])
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return {'conv_quantized': quantized, 'relu_folded': len(removed)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('expose', help='add the activations to calibrate as graph outputs')
    e.add_argument('src', type=Path)
    e.add_argument('dst', type=Path)
    e.add_argument('tensors', type=Path)
    a = sub.add_parser('apply', help='write the QDQ int8 model from calibrated ranges')
    a.add_argument('src', type=Path)
    a.add_argument('ranges', type=Path)
    a.add_argument('dst', type=Path)
    args = p.parse_args(argv)
    if args.cmd == 'expose':
        expose(args.src, args.dst, args.tensors)
    else:
        print(json.dumps(apply(args.src, args.ranges, args.dst)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
