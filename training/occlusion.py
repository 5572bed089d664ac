"""Occlusion model (issue 16): how much of a face's eyes, nose and mouth is hidden.

Real occlusion labels do not exist in the packs, so the occluders are synthetic and applied at
training time on aligned face crops (a pack of ``facesense prepare --crop aligned``: the eyes sit
at known places of every crop). Each occluder is an alpha map composited over the face; the target
of each region (eyes, nose, mouth: fixed ellipses of the aligned crop) is the alpha-weighted
fraction of it that is covered, so a see-through tinted lens counts for little and a scarf for all.

Occluders: dark sunglasses (lens shape, size, tint, opacity, bridge), masks and scarves over the
mouth and nose (straight or curved edge), hand-like skin-coloured blobs (palm + fingers, the face's
own skin tone, shaded), patches of another image, microphones and cups rising from below, hair or
a cap's brim over the eyes. Ordinary spectacles (thin frames, clear lenses) are drawn as a
*negative*: their frames cover little of the eye region, so they teach the network that spectacles
are not occlusion. Textures come from a bank: the training bank (flat colours, noise, patches of
other training faces) and a held-out bank (stripes, checks, gradients, patches of a mirrored and
colour-inverted face) that only the evaluation uses.

Run (one core, a few minutes):
  nice -n 15 /usr/bin/python3 -m training.occlusion --pack PACK --out models/ [--epochs 12]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor, nn
import torch.nn.functional as F

REGIONS = ("eyes", "nose", "mouth")


# ---------------------------------------------------------------- geometry of the aligned crop

def landmarks(size: int, eye_distance: float, eye_y: float) -> Dict[str, Tuple[float, float]]:
    """Mean landmark positions (pixels) of an aligned crop: eyes from the crop spec, nose and mouth
    from the ArcFace 5-point template's proportions (nose 0.57, mouth 1.16 eye distances below)."""
    d = eye_distance * size
    cx, ey = size / 2, eye_y * size
    return {"le": (cx - d / 2, ey), "re": (cx + d / 2, ey), "nose": (cx, ey + 0.57 * d), "mouth": (cx, ey + 1.16 * d),
            "d": (d, d)}


def region_masks(size: int, eye_distance: float, eye_y: float) -> Tensor:
    """[3, H, W] float masks of the eyes (both), nose (bridge to tip) and mouth."""
    lm = landmarks(size, eye_distance, eye_y)
    d = lm["d"][0]
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32) + 0.5, torch.arange(size, dtype=torch.float32) + 0.5,
                            indexing="ij")

    def ell(c: Tuple[float, float], rx: float, ry: float) -> Tensor:
        return (((xx - c[0]) / rx) ** 2 + ((yy - c[1]) / ry) ** 2 <= 1).float()

    eyes = torch.clamp(ell(lm["le"], 0.28 * d, 0.18 * d) + ell(lm["re"], 0.28 * d, 0.18 * d), 0, 1)
    nose = ell((lm["nose"][0], lm["nose"][1] - 0.2 * d), 0.2 * d, 0.36 * d)
    mouth = ell(lm["mouth"], 0.48 * d, 0.22 * d)
    return torch.stack([eyes, nose, mouth])


# ---------------------------------------------------------------- textures

def texture(kind: str, size: int, g: torch.Generator, donors: Tensor) -> Tensor:
    """A [3, size, size] texture in 0..255 from the named bank (``train`` or ``heldout``)."""
    r = lambda: float(torch.rand(1, generator=g))  # noqa: E731
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    colour = torch.rand(3, 1, 1, generator=g) * 255
    if kind == "train":
        pick = int(torch.randint(0, 3, (1,), generator=g))
        if pick == 0:
            return colour.expand(3, size, size).clone()
        if pick == 1:
            return (colour + torch.randn(3, size, size, generator=g) * (10 + 40 * r())).clamp(0, 255)
        img = donors[int(torch.randint(0, donors.shape[0], (1,), generator=g))].float()
        return img.flip(-1) if r() < 0.5 else img
    pick = int(torch.randint(0, 4, (1,), generator=g))
    if pick == 0:  # stripes at a random angle
        a, period = r() * math.pi, 3 + 6 * r()
        s = (torch.sin((xx * math.cos(a) + yy * math.sin(a)) * 2 * math.pi / period) > 0).float()
        other = torch.rand(3, 1, 1, generator=g) * 255
        return colour * s + other * (1 - s)
    if pick == 1:  # checks
        c = 2 + int(6 * r())
        s = (((xx // c) + (yy // c)) % 2).float()
        return colour * s + torch.rand(3, 1, 1, generator=g) * 255 * (1 - s)
    if pick == 2:  # gradient
        t = (xx * r() + yy * (1 - r())) / size
        return colour * t + torch.rand(3, 1, 1, generator=g) * 255 * (1 - t)
    img = donors[int(torch.randint(0, donors.shape[0], (1,), generator=g))].float()
    return (255 - img).flip(-2)  # an upside-down, colour-inverted face: no training texture looks like it


# ---------------------------------------------------------------- occluders (alpha maps)

def _superellipse(xx: Tensor, yy: Tensor, c: Tuple[float, float], rx: float, ry: float, p: float) -> Tensor:
    return ((((xx - c[0]).abs() / rx) ** p + ((yy - c[1]).abs() / ry) ** p) <= 1).float()


def _blur(a: Tensor, k: int = 3) -> Tensor:
    return F.avg_pool2d(a[None, None], k, 1, k // 2, count_include_pad=False)[0, 0]


def occluder(kind: str, size: int, lm: Dict[str, Tuple[float, float]], g: torch.Generator, face: Tensor,
             bank: str, donors: Tensor) -> Tuple[Tensor, Tensor]:
    """(alpha [H, W] 0..1, texture [3, H, W] 0..255) of one occluder of ``kind`` on ``face``."""
    r = lambda lo=0.0, hi=1.0: float(torch.rand(1, generator=g)) * (hi - lo) + lo  # noqa: E731
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32) + 0.5, torch.arange(size, dtype=torch.float32) + 0.5,
                            indexing="ij")
    d = lm["d"][0]
    tex = texture(bank, size, g, donors)
    if kind == "sunglasses":
        rx, p, dy = d * r(0.3, 0.48), r(2, 6), d * r(-0.08, 0.1)
        ry = rx * r(0.6, 0.95)
        a = torch.clamp(sum(_superellipse(xx, yy, (c[0], c[1] + dy), rx, ry, p) for c in (lm["le"], lm["re"])), 0, 1)
        bridge = ((yy - lm["le"][1] - dy).abs() < d * 0.04 + 0.5) & ((xx - size / 2).abs() < d / 2)
        a = torch.clamp(a + bridge.float(), 0, 1) * r(0.8, 1.0)
        tint = torch.rand(3, 1, 1, generator=g) * r(20, 110)
        tex = tint.expand(3, size, size) if bank == "train" or r() < 0.5 else tex * r(0.2, 0.5)
        return _blur(a), tex
    if kind == "spectacles":  # negative: thin frames, clear or faintly tinted lenses
        rx, p, dy = d * r(0.28, 0.45), r(2, 5), d * r(-0.05, 0.08)
        ry = rx * r(0.55, 0.9)
        w = r(0.6, 1.6)
        outer = torch.clamp(sum(_superellipse(xx, yy, (c[0], c[1] + dy), rx, ry, p) for c in (lm["le"], lm["re"])), 0, 1)
        inner = torch.clamp(sum(_superellipse(xx, yy, (c[0], c[1] + dy), rx - w, ry - w, p) for c in (lm["le"], lm["re"])), 0, 1)
        frame = outer - inner
        bridge = ((yy - lm["le"][1] - dy).abs() < 0.6) & ((xx - size / 2).abs() < d / 2 - rx + 1)
        a = torch.clamp(frame + bridge.float() + inner * r(0.0, 0.2), 0, 1)
        return _blur(a), (torch.rand(3, 1, 1, generator=g) * r(10, 120)).expand(3, size, size)
    if kind in ("mask", "scarf"):
        top = lm["nose"][1] + d * (r(-0.45, 0.1) if kind == "mask" else r(-0.2, 0.5))
        curve = d * r(-0.15, 0.15) * ((xx - size / 2) / (d)) ** 2
        half = d * r(0.9, 1.4)
        a = ((yy >= top + curve) & ((xx - size / 2).abs() <= half)).float()
        if kind == "mask" and r() < 0.6:  # medical mask: flat pale colours with folds
            base = torch.tensor([[r(150, 250)], [r(170, 250)], [r(180, 255)]]).view(3, 1, 1)
            folds = 1 - 0.08 * (torch.sin(yy * r(0.8, 1.5)) > 0.7).float()
            tex = (base * folds).expand(3, size, size)
        return _blur(a), tex
    if kind == "hand":
        cx, cy = r(0.15, 0.85) * size, lm["le"][1] + d * r(-0.2, 1.6)
        ang = r(0, math.pi)
        u, v = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang), -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
        pr = d * r(0.45, 0.8)
        palm = ((u / pr) ** 2 + (v / (pr * 0.85)) ** 2 <= 1).float()
        fingers = torch.zeros_like(palm)
        fw, fl = pr * 0.22, pr * r(0.9, 1.6)
        for k in range(4):
            off = (k - 1.5) * fw * 1.15
            fingers += (((v - off).abs() <= fw / 2) & (u >= 0) & (u <= pr + fl * r(0.7, 1.0))).float()
        a = torch.clamp(palm + fingers, 0, 1)
        skin = face[:, int(lm["nose"][1]), int(lm["le"][0]) : int(lm["re"][0])].float().mean(-1).view(3, 1, 1)
        skin = skin * torch.tensor([r(0.7, 1.2), r(0.7, 1.15), r(0.7, 1.15)]).view(3, 1, 1)
        shade = 1 - 0.25 * (u / (pr + fl)).clamp(-1, 1)
        tex = (skin * shade + torch.randn(3, size, size, generator=g) * 6).clamp(0, 255)
        return _blur(a), tex
    if kind == "patch":
        cx, cy = r(0.1, 0.9) * size, r(0.15, 0.95) * size
        rx, ry = d * r(0.3, 1.1), d * r(0.3, 1.1)
        a = _superellipse(xx, yy, (cx, cy), rx, ry, r(1, 8))
        return _blur(a), tex
    if kind in ("microphone", "cup"):
        cx = lm["mouth"][0] + d * r(-0.6, 0.6)
        top = lm["mouth"][1] + d * r(-0.6, 0.3)
        if kind == "microphone":
            head = ((xx - cx) ** 2 + (yy - top) ** 2 <= (d * r(0.25, 0.4)) ** 2).float()
            handle = (((xx - cx).abs() <= d * 0.12) & (yy >= top)).float()
            a = torch.clamp(head + handle, 0, 1)
            grille = 1 - 0.3 * ((torch.sin(xx * 2.5) * torch.sin(yy * 2.5)) > 0.3).float()
            tex = (torch.rand(3, 1, 1, generator=g) * 120 * grille) if bank == "train" else tex
        else:
            w = d * r(0.4, 0.7)
            a = (((xx - cx).abs() <= w * (1 - 0.15 * (yy - top) / size)) & (yy >= top)).float()
        return _blur(a), tex
    if kind == "brim":  # hair or a cap's brim coming down over the eyes
        edge = lm["le"][1] + d * r(-0.15, 0.35) + d * r(-0.3, 0.3) * (xx - size / 2) / d
        a = (yy <= edge).float()
        return _blur(a), tex
    raise ValueError(kind)


OCCLUDERS = ("sunglasses", "mask", "scarf", "hand", "patch", "microphone", "cup", "brim")


def occlude_batch(x: Tensor, masks: Tensor, lm: Dict[str, Tuple[float, float]], g: torch.Generator, *, p: float,
                  bank: str, donors: Tensor, p_spectacles: float = 0.15) -> Tuple[Tensor, Tensor, List[str]]:
    """x [N, 3, H, W] 0..255 → (occluded x, targets [N, 3] covered fraction per region, kinds)."""
    n, _, h, _ = x.shape
    out = x.clone()
    alpha_all = torch.zeros(n, h, h)
    kinds: List[str] = []
    for i in range(n):
        kind = "none"
        layers: List[str] = []
        if float(torch.rand(1, generator=g)) < p_spectacles:
            layers.append("spectacles")
        if float(torch.rand(1, generator=g)) < p:
            kind = OCCLUDERS[int(torch.randint(0, len(OCCLUDERS), (1,), generator=g))]
            layers.append(kind)
            if float(torch.rand(1, generator=g)) < 0.15:
                layers.append(OCCLUDERS[int(torch.randint(0, len(OCCLUDERS), (1,), generator=g))])
        for k in layers:
            a, tex = occluder(k, h, lm, g, out[i], bank, donors)
            out[i] = out[i] * (1 - a) + tex * a
            # Spectacles' frames are not occlusion: they do not add to the target.
            if k != "spectacles":
                alpha_all[i] = torch.maximum(alpha_all[i], a)
        kinds.append(kind)
    cover = (alpha_all[:, None] * masks[None]).sum((-1, -2)) / masks.sum((-1, -2))[None]
    return out, cover.clamp(0, 1), kinds


# ---------------------------------------------------------------- network

class OcclusionNet(nn.Module):
    """Four 3×3 conv blocks (48 → 24 → 12 → 6) and a linear head over the 6×6 map, so each region's
    output sees where on the face the evidence is. ~45k parameters, ~6 MMAC at 48×48."""

    def __init__(self, size: int = 48, widths: Tuple[int, int, int, int] = (16, 32, 48, 48)) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * (size // 8) ** 2, len(REGIONS))

    def forward(self, x: Tensor) -> Tensor:  # x: [N, 3, H, W] in 0..1
        return self.head(self.features(x).flatten(1))


# ---------------------------------------------------------------- data and metrics

def load_split(pack: str, split: str) -> Tuple[Tensor, np.ndarray]:
    x = np.load(os.path.join(pack, f"{split}_x.npy"))
    gl_path = os.path.join(pack, f"{split}_glasses.npy")
    glasses = np.load(gl_path) if os.path.exists(gl_path) else np.full(len(x), -1)
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous(), glasses


def jitter(x: Tensor, g: torch.Generator) -> Tensor:
    """Small shifts (alignment noise), mirror, brightness/contrast: applied after the occluders."""
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    x = torch.roll(x, (dy, dx), (-2, -1))
    gain = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    bias = (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 60
    return (x * gain + bias).clamp(0, 255)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    ranks[order] = np.arange(1, len(order) + 1)
    # average ranks of ties
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks[order])
    ranks[order] = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(model: nn.Module, x: Tensor, masks: Tensor, lm, seed: int, bank: str, donors: Tensor) -> Dict[str, np.ndarray]:
    """Every face twice: as is and under one occluder (seeded); scores = max region probability."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    occ, cover, kinds = occlude_batch(x, masks, lm, g, p=1.0, bank=bank, donors=donors, p_spectacles=0.15)
    both = torch.cat([x, occ])
    with torch.no_grad():
        prob = torch.cat([torch.sigmoid(model(both[i:i + 256] / 255)) for i in range(0, len(both), 256)]).numpy()
    truth = torch.cat([torch.zeros_like(cover), cover]).numpy()
    return {"prob": prob, "truth": truth, "kinds": np.array(["none"] * len(x) + kinds)}


def pr_at(score: np.ndarray, label: np.ndarray, t: float) -> Tuple[float, float]:
    flagged = score >= t
    tp = float((flagged & (label == 1)).sum())
    return tp / max(1.0, float(flagged.sum())), tp / max(1.0, float((label == 1).sum()))


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pack", required=True)
    ap.add_argument("--out", required=True, help="folder for occlusion-synth.onnx/.json and the report")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--heavy", type=float, default=0.5, help="a region this much covered is heavily occluded")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    meta = json.load(open(os.path.join(args.pack, "meta.json"), encoding="utf-8"))
    crop = meta["preprocessing"]["crop"]
    size = int(meta["image"]["width"])
    assert meta["image"]["channels"] == 3 and crop["mode"] == "aligned", "needs an aligned RGB pack"
    lm = landmarks(size, crop["eyeDistance"], crop["eyeY"])
    masks = region_masks(size, crop["eyeDistance"], crop["eyeY"])
    xtr, _ = load_split(args.pack, "train")
    xva, _ = load_split(args.pack, "val")
    xte, gte = load_split(args.pack, "test")
    g = torch.Generator().manual_seed(args.seed)
    model = OcclusionNet(size)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (len(xtr) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        loss_sum = 0.0
        for b in range(len(xtr) // args.batch):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            xb, yb, _ = occlude_batch(xtr[idx].float(), masks, lm, g, p=0.6, bank="train", donors=xtr)
            xb = jitter(xb, g)
            loss = F.binary_cross_entropy_with_logits(model(xb / 255), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += float(loss)
            if step % 20 == 0:
                print(f"  step {step}/{steps} loss {loss_sum / (b + 1):.4f} ({time.time() - t0:.0f} s)", flush=True)
        ev = evaluate(model, xva.float(), masks, lm, 1000 + epoch, "train", xtr)
        heavy = (ev["truth"].max(1) >= args.heavy).astype(int)
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss_sum / (b + 1):.4f} val AUC {auc(ev['prob'].max(1), heavy):.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)

    # Held-out faces (test split), held-out occluder textures.
    ev = evaluate(model, xte.float(), masks, lm, 7, "heldout", xte)
    score, heavy = ev["prob"].max(1), (ev["truth"].max(1) >= args.heavy).astype(int)
    report: Dict[str, object] = {"faces": int(len(xte)), "heavy_threshold": args.heavy, "auc": auc(score, heavy),
                                 "positives": int(heavy.sum()), "negatives": int((1 - heavy).sum())}
    curve = []
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):
        p, r = pr_at(score, heavy, t)
        curve.append({"threshold": t, "precision": round(p, 4), "recall": round(r, 4)})
    report["curve"] = curve
    report["recall_by_kind"] = {k: round(float((score[(ev["kinds"] == k) & (heavy == 1)] >= 0.5).mean()), 4)
                                for k in OCCLUDERS if ((ev["kinds"] == k) & (heavy == 1)).any()}
    clean = score[: len(xte)]
    report["clean_flagged_at_0.5"] = round(float((clean >= 0.5).mean()), 4)
    report["test_eyeglasses_flagged_at_0.5"] = {"n": int((gte == 1).sum()), "rate": round(float((clean[gte == 1] >= 0.5).mean()), 4) if (gte == 1).any() else None}
    report["region_auc"] = {r: auc(ev["prob"][:, i], (ev["truth"][:, i] >= args.heavy).astype(int)) for i, r in enumerate(REGIONS)}
    print(json.dumps(report, indent=1))

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "occlusion-synth.onnx")
    model.eval()

    class Scaled(nn.Module):
        def __init__(self, m: nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: Tensor) -> Tensor:
            return self.m(x)

    torch.onnx.export(Scaled(model), torch.zeros(1, 3, size, size), onnx_path, input_names=["input"], output_names=["occlusion"],
                      dynamic_axes={"input": {0: "batch"}, "occlusion": {0: "batch"}}, opset_version=13, do_constant_folding=True)
    from .export import check_manifest, sha256_file
    manifest = {
        "id": "occlusion-synth",
        "format": 1,
        "description": "How much of the eyes, nose and mouth is hidden (per region, 0..1) from 48x48 RGB aligned faces; "
                       "a quality measure, trained on synthetic occluders",
        "file": "occlusion-synth.onnx",
        "sha256": sha256_file(onnx_path),
        "licence": "weights for research use only; they inherit the terms of their training data",
        "input": {"name": "input", "width": size, "height": size, "channels": 3, "layout": "NCHW",
                  "crop": {"mode": "aligned", "eyeDistance": crop["eyeDistance"], "eyeY": crop["eyeY"]},
                  "normalisation": {"kind": "scale", "scale": 1 / 255}},
        "outputs": [{"task": "occlusion", "name": "occlusion", "decode": "sigmoid", "labels": list(REGIONS)}],
        "training": {"data": "UTKFace part 1 aligned crops (facesense prepare --crop aligned) with synthetic occluders",
                     "terms": "research use: UTKFace images are for non-commercial research",
                     "architecture": "OcclusionNet (training/occlusion.py): conv 16-32-48-48, linear head",
                     "command": f"/usr/bin/python3 -m training.occlusion --pack PACK --out models --epochs {args.epochs} --seed {args.seed}"},
        "metrics": {"test_auc_heldout_textures": round(report["auc"], 4), "params": sum(p.numel() for p in model.parameters())},
    }
    check_manifest(manifest)
    with open(os.path.join(args.out, "occlusion-synth.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "occlusion-synth.report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
