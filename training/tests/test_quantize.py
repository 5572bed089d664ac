"""training/quantize.py: QDQ int8 of a small residual CNN, run in onnxruntime-node against the float model."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from training.quantize import activation_qparams, apply, expose
from training.tests.conftest import run_ort


def _model(path: str) -> None:
    rng = np.random.default_rng(7)
    init = lambda name, *shape: numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)  # noqa: E731
    nodes = [
        helper.make_node('Conv', ['input', 'w1', 'b1'], ['c1'], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['c1'], ['r1']),
        helper.make_node('Conv', ['r1', 'w2', 'b2'], ['c2'], pads=[1, 1, 1, 1]),
        helper.make_node('Add', ['c2', 'r1'], ['a']),
        helper.make_node('Relu', ['a'], ['r2']),
        helper.make_node('Conv', ['r2', 'w3', 'b3'], ['c3'], strides=[2, 2]),
        helper.make_node('Relu', ['c3'], ['r3']),
        helper.make_node('ReduceMean', ['r3'], ['pooled'], axes=[2, 3], keepdims=0),
        helper.make_node('Gemm', ['pooled', 'wf', 'bf'], ['out'], transB=1),
    ]
    graph = helper.make_graph(
        nodes, 'tiny',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', 1, 12, 12])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, ['N', 3])],
        [init('w1', 8, 1, 3, 3), init('b1', 8), init('w2', 8, 8, 3, 3), init('b2', 8), init('w3', 8, 8, 2, 2), init('b3', 8), init('wf', 3, 8), init('bf', 3)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)]), path)


def test_activation_qparams_cover_the_range_and_keep_zero_exact():
    scale, zp = activation_qparams(-1.0, 3.0)
    assert abs(scale - 4.0 / 255) < 1e-9 and zp == round(1.0 / scale)
    assert activation_qparams(0.0, 2.0)[1] == 0  # a Relu range: zero point 0 clamps as Relu does
    assert activation_qparams(0.5, 2.0) == (2.0 / 255, 0)  # widened to include 0


def test_quantized_model_tracks_the_float_model_in_onnxruntime(tmp_path):
    src, exposed, names_json, ranges_json, dst = (str(tmp_path / n) for n in ('f.onnx', 'e.onnx', 'n.json', 'r.json', 'q.onnx'))
    _model(src)
    expose(tmp_path / 'f.onnx', tmp_path / 'e.onnx', tmp_path / 'n.json')
    names = json.loads(open(names_json).read())
    assert {'input', 'c1', 'r1', 'c2', 'r2', 'c3', 'r3'} <= set(names)

    rng = np.random.default_rng(1)
    calib = rng.uniform(0, 1, (64, 1, 12, 12)).astype(np.float32)
    outs = run_ort(exposed, calib, str(tmp_path))
    ranges = {n: [float(outs[n].min()), float(outs[n].max())] for n in names}
    open(ranges_json, 'w').write(json.dumps(ranges))
    stats = apply(tmp_path / 'f.onnx', tmp_path / 'r.json', tmp_path / 'q.onnx')
    assert stats == {'conv_quantized': 3, 'relu_folded': 2}  # r2 follows an Add: it stays

    ops = [n.op_type for n in onnx.load(dst).graph.node]
    assert ops.count('Relu') == 1 and ops.count('Conv') == 3
    assert ops.count('QuantizeLinear') >= 4 and ops.count('DequantizeLinear') >= 4 + 6  # activations + weights and biases
    weights = [t for t in onnx.load(dst).graph.initializer if t.name.startswith('w') and t.name.endswith('_quantized')]
    assert len(weights) == 3 and all(t.data_type == TensorProto.INT8 for t in weights)

    x = rng.uniform(0, 1, (16, 1, 12, 12)).astype(np.float32)
    want = run_ort(src, x, str(tmp_path))['out']
    got = run_ort(dst, x, str(tmp_path))['out']
    spread = float(want.max() - want.min())
    err = float(np.abs(got - want).max())
    assert 0 < err < 0.05 * spread, f'int8 output off by {err} (float outputs span {spread})'
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
