"""Issue 17 fine-tuning parts: a TF.js trunk as an architecture (trains, exports, runs in
onnxruntime-node), layer-wise learning rates with a frozen start, the FairFace band loss and the
photo-degradation augmentations."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from training import augment
from training.config import load_config
from training.export import export_run
from training.losses import FAIRFACE_STARTS, band_cross_entropy, dldl_loss
from training.models import create
from training.train import make_optimizer, train

from .conftest import run_ort, validate_manifests
from .packutil import make_pack
from .test_tfjs import write_tiny_model


@pytest.fixture
def tiny_tfjs(tmp_path) -> str:
    d = tmp_path / "tfjs"
    d.mkdir()
    return write_tiny_model(d, {"c1/w": "uint8"})


def test_tfjs_trunk_trains_and_exports_with_caffe_preprocessing(tmp_path, tiny_tfjs, monkeypatch):
    pack = make_pack(str(tmp_path / "pack"), size=24, channels=3, n={"train": 32, "val": 16, "test": 16})
    monkeypatch.setenv("TINY_TFJS", os.path.dirname(tiny_tfjs))
    kwargs = {"model": "$TINY_TFJS/model.json", "features": "pool", "preprocess": "caffe"}
    groups = [{"match": r"^graph\.c1_", "lr_mult": 0.1, "frozen_epochs": 1}, {"match": r"^graph\.", "lr_mult": 0.5}]
    raw = {"pack": pack, "out_dir": str(tmp_path / "runs"), "name": "ft", "epochs": 2, "batch_size": 16, "threads": 1,
           "checkpoint_minutes": 0, "model": {"arch": "tfjs", "input_size": 17, "kwargs": kwargs},
           "normalisation": {"kind": "scale", "scale": 1 / 255},
           "optimizer": {"kind": "adamw", "lr": 0.01, "groups": groups}, "model_card": {"id": "ft-test", "licence": "test"}}
    before = create("tfjs", 3, input_size=17, heads={"emotion": 7}, **kwargs).state_dict()
    train(load_config(raw=raw))
    ck = torch.load(os.path.join(tmp_path, "runs", "ft", "checkpoint.pt"), map_location="cpu")
    after = ck["model"]
    # The first layer was frozen for epoch 1 and trained in epoch 2; the rest trained from the start.
    assert not torch.equal(after["graph.c1_w"], before["graph.c1_w"])
    assert not torch.equal(after["graph.pw_w"], before["graph.pw_w"])
    man = export_run(os.path.join(tmp_path, "runs", "ft"), str(tmp_path / "models"))
    validate_manifests(str(tmp_path / "models" / "ft-test.json"))
    assert man["input"]["normalisation"] == {"kind": "scale", "scale": 1 / 255}
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 17, 17)).astype(np.float32)
    model = create("tfjs", 3, input_size=17, heads={"emotion": 7}, **kwargs)
    model.load_state_dict(torch.load(os.path.join(tmp_path, "runs", "ft", "best.pt"), map_location="cpu")["model"])
    with torch.no_grad():  # the graph gives logits; the manifest's decode applies the softmax
        want = model.eval()(torch.from_numpy(x))["emotion"].numpy()
    got = run_ort(str(tmp_path / "models" / "ft-test.onnx"), x, str(tmp_path))
    np.testing.assert_allclose(got["emotion"], want, atol=1e-4)
    # A card edited after training started replaces the checkpoint's (export --model-card CONFIG).
    card = {"id": "ft-card", "licence": "trunk terms", "data": "pretrained + fine-tuned", "terms": "research"}
    man2 = export_run(os.path.join(tmp_path, "runs", "ft"), str(tmp_path / "models"), model_card=card)
    assert (man2["id"], man2["licence"], man2["training"]["data"], man2["training"]["terms"]) == ("ft-card", "trunk terms", "pretrained + fine-tuned", "research")


def test_layer_wise_groups_first_match_wins(tiny_tfjs):
    model = create("tfjs", 3, input_size=17, heads={"g": 2}, model=tiny_tfjs, features="pool")
    cfg = {"optimizer": {"kind": "sgd", "lr": 0.1, "weight_decay": 0.01,
                         "groups": [{"match": r"^graph\.c1_", "lr_mult": 0.1, "frozen_epochs": 2}, {"match": r"^graph\.", "lr_mult": 0.5}]}}
    opt = make_optimizer(cfg, model)
    names = {id(p): n for n, p in model.named_parameters()}
    seen = {}
    for g in opt.param_groups:
        for p in g["params"]:
            seen[names[id(p)]] = (g["lr_mult"], g["frozen_epochs"], g["weight_decay"])
    assert seen["graph.c1_w"] == (0.1, 2.0, 0.01)
    assert seen["graph.c1_b"] == (0.1, 2.0, 0.0)  # biases never decay
    assert seen["graph.pw_w"] == (0.5, 0.0, 0.01)
    assert seen["heads.g.weight"] == (1.0, 0.0, 0.01)
    assert len(seen) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="optimizer.groups"):
        make_optimizer({"optimizer": {"kind": "sgd", "lr": 0.1, "groups": [{"regex": "x"}]}}, model)


def test_band_cross_entropy_reads_the_mass_in_each_fairface_band():
    bins = torch.arange(0, 101, dtype=torch.float32)
    # All the mass on age 25 → band 20-29 (index 3): near-zero loss for truth 21, large for truth 45.
    logits = torch.full((2, 101), -30.0)
    logits[:, 25] = 30.0
    logp = torch.log_softmax(logits, 1)
    loss_right = band_cross_entropy(logp[:1], torch.tensor([21.0]), bins)
    loss_wrong = band_cross_entropy(logp[1:], torch.tensor([45.0]), bins)
    assert float(loss_right) < 1e-6 and float(loss_wrong) > 10
    assert len(FAIRFACE_STARTS) == 9
    # Mass split over two bins of one band still counts as all in that band.
    logits2 = torch.full((1, 101), -30.0)
    logits2[0, 3] = logits2[0, 9] = 30.0
    assert float(band_cross_entropy(torch.log_softmax(logits2, 1), torch.tensor([5.0]), bins)) < 1e-6
    base, _ = dldl_loss(logits[:1], torch.tensor([45.0]), bins)
    with_band, _ = dldl_loss(logits[:1], torch.tensor([45.0]), bins, band_weight=1.0)
    assert float(with_band) > float(base)


@pytest.mark.parametrize("name,opts", [
    ("gamma", {"p": 1.0, "gamma": [0.5, 0.6]}), ("colour", {"p": 1.0, "strength": 0.3}), ("gray", 1.0),
    ("blur", {"p": 1.0, "sigma": [1.0, 1.5]}), ("rescale", {"p": 1.0, "scale": [0.3, 0.5]}), ("noise", {"p": 1.0, "std": [5.0, 8.0]}),
])
def test_degradations_change_the_image_and_replay_from_the_seed(name, opts):
    x = torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(0)) * 255
    aug = augment.Augmenter({name: opts})
    assert aug.active
    a = aug(x.clone(), torch.Generator().manual_seed(5))
    b = aug(x.clone(), torch.Generator().manual_seed(5))
    assert a.shape == x.shape and torch.equal(a, b)
    assert (a - x).abs().mean() > 1.0
    assert float(a.min()) >= -1e-4 and float(a.max()) <= 255 + 1e-3
    if name == "gray":
        assert torch.allclose(a[:, 0], a[:, 1]) and torch.allclose(a[:, 1], a[:, 2])


def test_degradations_off_leave_the_batch_and_generator_untouched():
    x = torch.rand(2, 3, 16, 16) * 255
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    for fn, kw in ((augment.random_gamma, {}), (augment.colour_cast, {}), (augment.random_blur, {}),
                   (augment.random_rescale, {}), (augment.random_noise, {})):
        assert fn(x, g, **kw) is x
    assert augment.random_gray(x, g, p=0.0) is x
    assert torch.equal(g.get_state(), state)


def test_faceres_config_is_valid():
    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "utkface-faceres.json"))
    assert cfg["model"]["arch"] == "tfjs" and cfg["losses"]["age"]["band_weight"] == 1.0
    augment.Augmenter(cfg["augment"])  # every option known
    json.dumps(cfg)


def test_tfjs_trunk_feeds_gray_faces_as_r_equals_g_equals_b(tiny_tfjs):
    gray = create("tfjs", 1, input_size=17, heads={"emotion": 8}, model=tiny_tfjs, features="pool", preprocess="caffe").eval()
    rgb = create("tfjs", 3, input_size=17, heads={"emotion": 8}, model=tiny_tfjs, features="pool", preprocess="caffe").eval()
    rgb.load_state_dict(gray.state_dict())
    x = torch.rand(2, 1, 17, 17)
    with torch.no_grad():
        np.testing.assert_allclose(gray(x)["emotion"].numpy(), rgb(x.expand(-1, 3, -1, -1))["emotion"].numpy(), atol=1e-6)
