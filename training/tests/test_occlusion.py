import numpy as np
import torch

from training.occlusion import OcclusionNet, REGIONS, auc, landmarks, occlude_batch, occluder, region_masks

SIZE, CROP = 48, (0.4, 0.3)


def _faces(n=4):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, SIZE, SIZE, generator=g) * 60 + 120


def _cover(kind, seed=0):
    lm = landmarks(SIZE, *CROP)
    masks = region_masks(SIZE, *CROP)
    face = _faces(1)[0]
    a, _ = occluder(kind, SIZE, lm, torch.Generator().manual_seed(seed), face, "train", _faces(2))
    return ((a[None] * masks).sum((-1, -2)) / masks.sum((-1, -2))).tolist()


def test_regions_sit_where_the_aligned_crop_puts_eyes_nose_and_mouth():
    masks = region_masks(SIZE, *CROP)
    assert [round(float(m.sum())) > 10 for m in masks] == [True, True, True]
    ys = [float((m.sum(1) * torch.arange(SIZE)).sum() / m.sum()) for m in masks]
    assert ys[0] < ys[1] < ys[2], "eyes above nose above mouth"


def test_sunglasses_hide_the_eyes_masks_the_mouth_and_spectacles_almost_nothing():
    for seed in range(5):
        eyes, _, mouth = _cover("sunglasses", seed)
        assert eyes > 0.5 and mouth == 0.0
        assert _cover("mask", seed)[2] > 0.9
        assert _cover("spectacles", seed)[0] < 0.5


def test_occlude_batch_targets_are_fractions_and_spectacles_add_nothing():
    x = _faces(16)
    g = torch.Generator().manual_seed(3)
    out, cover, kinds = occlude_batch(x, region_masks(SIZE, *CROP), landmarks(SIZE, *CROP), g, p=0.5, bank="train",
                                      donors=x, p_spectacles=1.0)
    assert cover.shape == (16, len(REGIONS)) and float(cover.min()) >= 0 and float(cover.max()) <= 1
    clean = [i for i, k in enumerate(kinds) if k == "none"]
    assert clean and all(float(cover[i].max()) == 0 for i in clean), "spectacles alone are not occlusion"
    assert not torch.equal(out, x) and torch.equal(x, _faces(16)), "the input is not modified in place"


def test_auc_ranks_and_ties():
    assert auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5


def test_network_is_small():
    n = sum(p.numel() for p in OcclusionNet(SIZE).parameters())
    assert n < 50_000  # < 200 KB of float32 weights
    assert OcclusionNet(SIZE)(torch.zeros(2, 3, SIZE, SIZE)).shape == (2, len(REGIONS))
