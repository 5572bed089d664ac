"""Pack reading, normalisation (incl. paper 000 GCN), augmentation and batching."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from training.augment import Augmenter, hflip, jpeg_compress, quality_tables, random_affine, random_erase, _Q_LUMA
from training.data import (BatchLoader, Pack, PackDataset, PackError, balanced_weights, gcn, normalise,
                           resolve_normalisation, to_model_input)

from .packutil import make_pack


def test_pack_reads_and_validates(pack_dir):
    pack = Pack(pack_dir)
    assert (pack.height, pack.width, pack.channels) == (48, 48, 1)
    assert pack.target("emotion").size == 7 and pack.crop["mode"] == "aligned"
    x = pack.images("train")
    assert isinstance(x, np.memmap) and x.shape == (64, 48, 48, 1)
    assert pack.class_counts("train", "emotion").sum() == 64
    np.save(os.path.join(pack_dir, "val_emotion.npy"), np.zeros(32, dtype=np.int32))
    with pytest.raises(PackError, match="val_emotion.npy"):
        Pack(pack_dir).labels("val", "emotion")
    with pytest.raises(PackError, match="no target"):
        pack.target("age")


def test_pack_errors_name_the_file(tmp_path):
    with pytest.raises(PackError, match="meta.json: not found"):
        Pack(str(tmp_path))
    (tmp_path / "meta.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(PackError, match="facesense-pack"):
        Pack(str(tmp_path))


def test_channel_conversion_and_resize():
    x = np.full((2, 10, 10, 3), [255, 0, 0], dtype=np.uint8)
    g = to_model_input(x, 1, 10)
    assert g.shape == (2, 1, 10, 10) and torch.allclose(g, torch.full_like(g, 0.299 * 255))
    assert to_model_input(x[..., :1], 3, 20).shape == (2, 3, 20, 20)


def test_scale_and_meanstd(pack_dir):
    pack = Pack(pack_dir)
    x = to_model_input(pack.images("train")[:], 1, 48)
    assert torch.allclose(normalise(x, resolve_normalisation({"kind": "scale"}, pack, "train", 1, 48)), x / 255)
    ms = resolve_normalisation({"kind": "meanstd"}, pack, "train", 1, 48)
    y = normalise(x, ms)
    assert abs(float(y.mean())) < 1e-3 and abs(float(y.std()) - 1) < 1e-2
    fixed = resolve_normalisation({"kind": "meanstd", "mean": [0.5], "std": [0.5]}, pack, "train", 3, 48)
    assert fixed["mean"] == [0.5] * 3


def test_gcn_as_in_paper000(pack_dir):
    pack = Pack(pack_dir)
    x = to_model_input(pack.images("train")[:], 1, 48)
    g = gcn(x, 100)
    assert torch.allclose(g.mean(dim=(1, 2, 3)), torch.zeros(64), atol=1e-4)
    assert torch.allclose(g.flatten(1).norm(dim=1), torch.full((64,), 100.0), atol=1e-3)
    norm = resolve_normalisation({"kind": "gcn"}, pack, "train", 1, 48)
    assert norm["norm"] == 100 and len(norm["pixelMean"]) == len(norm["pixelStd"]) == 48 * 48
    y = normalise(x, norm)  # per pixel: training mean 0, std 1
    assert float(y.mean(0).abs().max()) < 1e-3 and float((y.std(0, unbiased=False) - 1).abs().max()) < 1e-2


def test_gcn_statistics_are_stored_hwc(tmp_path):
    pack = Pack(make_pack(str(tmp_path / "rgb"), channels=3, size=16, n={"train": 21, "val": 7}))
    norm = resolve_normalisation({"kind": "gcn"}, pack, "train", 3, 16)
    g = gcn(to_model_input(pack.images("train")[:], 3, 16), 100).double().mean(0)  # (C, H, W)
    c, h, w = 2, 5, 11
    assert abs(norm["pixelMean"][(h * 16 + w) * 3 + c] - float(g[c, h, w])) < 1e-4


def test_flip_and_affine():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float32).view(2, 1, 4, 6)
    assert torch.equal(hflip(x, 1.0, g), x.flip(-1))
    assert torch.equal(hflip(x, 0.0, g), x)
    same = random_affine(x, g, p=1.0, scale=(1, 1), rotate_deg=0, translate=0)
    assert torch.allclose(same, x, atol=1e-4)
    img = torch.rand(8, 1, 48, 48) * 255
    moved = random_affine(img, g, p=1.0, scale=(0.9, 1.1), rotate_deg=10, translate=0.1)
    assert moved.shape == img.shape and not torch.allclose(moved, img) and moved.min() >= 0 and moved.max() <= 255


def test_jpeg_matches_libjpeg_quantisation():
    q = quality_tables(torch.tensor([50.0, 100.0, 10.0]), _Q_LUMA)
    assert torch.equal(q[0], _Q_LUMA) and torch.equal(q[1], torch.ones(8, 8))  # q50 = the table, q100 = all ones
    assert q[2, 0, 0] == 80  # IJG scaling: 5000/10 = 500 % → 16·5 = 80
    flat = torch.full((1, 1, 16, 16), 77.0)
    out = jpeg_compress(flat, torch.tensor([10.0]))
    # A flat block stays flat; only its DC term is quantised: (77 − 128)·8 = −408 → step 80 → −400 → 78.
    assert torch.equal(out, torch.full_like(flat, 78.0))
    assert torch.equal(jpeg_compress(flat, torch.tensor([100.0])), flat)
    torch.manual_seed(0)
    img = torch.rand(4, 1, 48, 48) * 255
    err_hi = (jpeg_compress(img, torch.full((4,), 95.0)) - img).abs().mean()
    err_lo = (jpeg_compress(img, torch.full((4,), 10.0)) - img).abs().mean()
    assert err_hi < err_lo
    rgb = torch.rand(2, 3, 20, 20) * 255
    out = jpeg_compress(rgb, torch.tensor([90.0, 30.0]))
    assert out.shape == rgb.shape and out.min() >= 0 and out.max() <= 255


def test_random_erase_area_and_determinism():
    x = torch.full((16, 1, 48, 48), 100.0)
    a = random_erase(x, torch.Generator().manual_seed(5), p=1.0, area=(0.1, 0.1), fill="zero")
    b = random_erase(x, torch.Generator().manual_seed(5), p=1.0, area=(0.1, 0.1), fill="zero")
    assert torch.equal(a, b)
    frac = (a == 0).float().mean(dim=(1, 2, 3))
    assert ((frac > 0.05) & (frac < 0.16)).all()


def test_augmenter_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown augment"):
        Augmenter({"mixup": 1})
    assert not Augmenter({}).active and Augmenter({"hflip": 0.5}).active


def test_batch_loader_is_deterministic_and_resumable(pack_dir):
    pack = Pack(pack_dir)
    mk = lambda: BatchLoader(pack, "train", targets=["emotion"], in_channels=1, input_size=48,  # noqa: E731
                             normalisation={"kind": "scale", "scale": 1 / 255}, batch_size=16, train=True,
                             augment=Augmenter({"hflip": 0.5, "erase": {"p": 0.5}}), seed=3)
    full = list(mk().epoch(2))
    tail = list(mk().epoch(2, start=2))
    assert len(full) == 4 and len(tail) == 2
    for a, b in zip(full[2:], tail):
        assert torch.equal(a.x, b.x) and torch.equal(a.targets["emotion"], b.targets["emotion"])
    assert not np.array_equal(mk().order(0), mk().order(1))
    assert full[0].x.is_contiguous(memory_format=torch.channels_last)


def test_balanced_oversampling(tmp_path):
    pack = Pack(make_pack(str(tmp_path / "p"), n={"train": 70, "val": 7}, classes=["a", "b"]))
    y = np.asarray(pack.labels("train", "emotion")).copy()
    y[:60] = 0
    y[60:] = 1  # 60 vs 10
    np.save(os.path.join(pack.root, "train_emotion.npy"), y)
    pack = Pack(pack.root)
    w = balanced_weights(pack, "train", "emotion")
    loader = BatchLoader(pack, "train", targets=["emotion"], in_channels=1, input_size=48,
                         normalisation={"kind": "scale", "scale": 1 / 255}, batch_size=10, train=True,
                         sample_weights=w, seed=0)
    drawn = np.concatenate([y[loader.order(e)] for e in range(20)])
    assert abs(drawn.mean() - 0.5) < 0.05


def test_pack_dataset_items(joint_pack_dir):
    ds = PackDataset(Pack(joint_pack_dir), "val")
    x, y = ds[3]
    assert x.shape == (1, 48, 48) and x.dtype == torch.float32 and float(x.max()) <= 1.0
    assert set(y) == {"emotion", "ferplus", "attrs", "age"} and y["ferplus"].shape == (7,)
