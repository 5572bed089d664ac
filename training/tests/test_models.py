"""Every registered architecture: builds, trains (finite outputs, gradients reach the first layer),
exports to ONNX opset <= 13 and matches onnxruntime-node within 1e-4."""
from __future__ import annotations

import inspect

import onnx
import pytest
import torch

from training.export import export_onnx
from training.models import create, get_spec, list_models
from training.models.layers import LocalContrastNorm
from training.models.paper000 import Paper000Net

from .conftest import run_ort

# `tfjs` wraps a converted TF.js graph given by path (no random-weight form): tests/test_tfjs.py and
# tests/test_finetune.py build it from a small graph.
ARCHS = [a for a in list_models() if a != "tfjs"]
#: Smaller settings where the default makes the *export test* slow on 2 cores (same code paths, fewer
#: channels): paper 000's FC 3072 on a 128×15×15 map is an 88M-parameter (354 MB) layer; WRN-28-4
#: and ResNet-18 take seconds per traced forward. test_forward_backward uses every default.
EXPORT_KWARGS = {"paper000": {"fc": 256}, "wrn": {"depth": 16, "widen": 2}, "resnet18": {"width": 0.5}}


def test_registry_has_the_required_architectures():
    assert {"paper000", "vgg13", "mini_xception", "resnet18", "wrn", "compact_resnet"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_backward(arch):
    spec = get_spec(arch)
    torch.manual_seed(0)
    model = create(arch, spec.in_channels, 7, spec.input_size)
    x = torch.randn(2, spec.in_channels, spec.input_size, spec.input_size)
    feats = model.forward_features(x)
    assert feats.shape == (2, model.embed_dim)
    out = model.forward_head(feats)
    assert set(out) == {"logits"} and out["logits"].shape == (2, 7)
    assert torch.isfinite(out["logits"]).all()
    loss = torch.nn.functional.cross_entropy(model(x)["logits"], torch.tensor([1, 5]))
    loss.backward()
    grad = model.first_layer().weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, "no gradient at the first layer"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("arch", ["compact_resnet", "paper000", "mini_xception"])
def test_multi_head_shares_the_trunk(arch):
    heads = {"emotion": 8, "age": 9, "gender": 2, "race": 5}
    kwargs = EXPORT_KWARGS.get(arch, {})
    model = create(arch, 1, heads=heads, **kwargs)
    out = model(torch.randn(3, 1, 48, 48))
    assert {k: v.shape for k, v in out.items()} == {k: (3, n) for k, n in heads.items()}


def _calibrated(arch, heads=None, **kwargs):
    """Random weights with BatchNorm statistics taken from data, so activations have realistic
    scale (fresh running stats of 0/1 can blow activations up through deep residual stacks)."""
    spec = get_spec(arch)
    torch.manual_seed(1)
    model = create(arch, spec.in_channels, input_size=spec.input_size, heads=heads or {"emotion": 7}, **kwargs)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(8, spec.in_channels, spec.input_size, spec.input_size))
    return model.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_export_matches_onnxruntime_node(arch, tmp_path):
    spec = get_spec(arch)
    heads = {"emotion": 7, "gender": 2}
    model = _calibrated(arch, heads, **EXPORT_KWARGS.get(arch, {}))
    path = export_onnx(model, str(tmp_path / f"{arch}.onnx"), list(heads))
    graph = onnx.load(path)
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) <= 13
    assert [i.name for i in graph.graph.input] == ["input"]
    assert [o.name for o in graph.graph.output] == ["emotion", "gender"]
    # Batch 3 though exported with batch 2: the batch axis is dynamic.
    x = torch.randn(3, spec.in_channels, spec.input_size, spec.input_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x)
    got = run_ort(path, x.numpy(), str(tmp_path))
    for task in heads:
        assert got[task].shape == tuple(ref[task].shape)
        diff = float((torch.from_numpy(got[task]) - ref[task]).abs().max())
        assert diff <= 1e-4, f"{arch}/{task}: max |onnxruntime − torch| = {diff:.2e}"


def test_paper000_reproduces_the_paper_map_sizes():
    assert inspect.signature(Paper000Net).parameters["fc"].default == 3072
    assert inspect.signature(Paper000Net).parameters["fc_dropout"].default == 0.2
    model = create("paper000", 1, 7, 48, fc=16)
    sizes = []
    x = torch.zeros(1, 1, 48, 48)
    for layer in model.trunk:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    assert sizes == [44, 22, 18, 15]  # §3.5: 44×44 → pool 22×22 → 18×18 → 15×15
    assert model.fc[0].in_features == 128 * 15 * 15
    assert isinstance(model.fc[2], torch.nn.Dropout) and model.fc[2].p == 0.2


def test_paper000_study_knobs():
    m = create("paper000", 1, 7, 60, depth=2, width=0.5, fc=128, lcn=[2], pool=[1, 2], conv_dropout=0.1)
    convs = [l for l in m.trunk if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32]
    assert sum(isinstance(l, LocalContrastNorm) for l in m.trunk) == 1
    assert m(torch.randn(2, 1, 60, 60))["logits"].shape == (2, 7)
    with pytest.raises(ValueError, match="depth"):
        create("paper000", 1, 7, 48, depth=9)


def test_local_contrast_norm_is_contrast_invariant():
    torch.manual_seed(0)
    lcn = LocalContrastNorm()
    x = torch.rand(2, 4, 20, 20) * 3
    y1, y2 = lcn(x), lcn(x * 5 + 7)  # brightness and contrast change, same local structure
    assert torch.allclose(y1, y2, atol=1e-3)
    assert y1.mean().abs() < 0.1


def test_vgg13_and_wrn_options():
    assert create("vgg13", 1, 8, 48)(torch.randn(2, 1, 48, 48))["logits"].shape == (2, 8)
    w = create("wrn", 1, 7, 48, depth=10, widen=1, dropout=0.0)
    assert w(torch.randn(2, 1, 48, 48))["logits"].shape == (2, 7)
    with pytest.raises(ValueError, match="6n\\+4"):
        create("wrn", 1, 7, 48, depth=12)


def test_registry_errors_name_the_fix():
    with pytest.raises(KeyError, match="registered"):
        create("nope", 1, 7)
    with pytest.raises(ValueError, match="num_classes or heads"):
        create("tiny", 1)
    with pytest.raises(ValueError, match="at least"):
        create("paper000", 1, 7, 16)
