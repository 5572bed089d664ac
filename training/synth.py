"""Synthetic sunglasses (issue 6): UTKFace's 3,200 appearance labels hold 2 pairs of sunglasses.

Training faces are aligned crops, so the eyes sit at known places of every crop (the pack's
``crop``: eyes ``eyeDistance`` of the width apart, centred, at ``eyeY`` of the height). On a random
subset of the faces labelled "no glasses" this paints a pair of dark lenses centred on the eyes and
relabels them sunglasses. Everything about the pair is drawn per face: lens shape (from round to
rectangular, through a superellipse exponent), size, vertical offset, tint and darkness, opacity
(some show the eyes through), a frame, a bridge, temple arms, and a soft specular reflection.
The faces are then augmented like the others (geometry, JPEG, colour), so the lenses move with the
face. Evaluation uses real faces only.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor

# Lens tints (RGB, 0..1 before darkening): black, grey, brown, green, blue, amber, mirror-ish silver.
TINTS = torch.tensor([[0.05, 0.05, 0.05], [0.25, 0.25, 0.25], [0.35, 0.22, 0.12], [0.12, 0.25, 0.15],
                      [0.10, 0.18, 0.35], [0.45, 0.30, 0.08], [0.55, 0.58, 0.62]])

DEFAULTS: Dict[str, Any] = {"target": "glasses", "from": 0, "label": 2, "p": 0.0}


def _u(lo: float, hi: float, g: torch.Generator) -> float:
    return float(torch.rand(1, generator=g)) * (hi - lo) + lo


def paint_sunglasses(img: Tensor, eyes: Tensor, g: torch.Generator) -> Tensor:
    """One face ``img`` [C, H, W] in 0..255 with eye centres ``eyes`` [[xl, yl], [xr, yr]] in pixels
    → the same face wearing sunglasses (a new tensor)."""
    c, h, w = img.shape
    d = float((eyes[1] - eyes[0]).norm())
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                            indexing="ij")
    rx = d * _u(0.32, 0.46, g)
    ry = rx * _u(0.6, 0.95, g)
    power = _u(2.0, 6.0, g)  # 2 = ellipse, larger = rounded rectangle
    dy = d * _u(-0.04, 0.10, g)  # lenses sit on or slightly below the eye line
    lens = torch.zeros(h, w)
    rim = torch.zeros(h, w)
    frame_w = _u(0.04, 0.12, g)  # frame thickness, fraction of the lens radius
    centres = []
    for k in range(2):
        cx, cy = float(eyes[k, 0]), float(eyes[k, 1]) + dy
        centres.append((cx, cy))
        r = ((xx - cx).abs() / rx) ** power + ((yy - cy).abs() / ry) ** power
        inside = (1.0 - r).clamp(0, 1) * 6  # soft edge
        lens = torch.maximum(lens, inside.clamp(0, 1))
        ring = ((r < (1 + frame_w) ** power) & (r > (1 - frame_w) ** power)).float()
        rim = torch.maximum(rim, ring)
    # bridge between the lenses and temple arms from the outer edges towards the ears
    (xl, yl), (xr, yr) = centres
    top = min(yl, yr) - ry * _u(0.2, 0.7, g)
    thick = max(0.6, d * _u(0.02, 0.05, g))
    bridge = ((yy - top).abs() < thick) & (xx > min(xl, xr) + rx * 0.8) & (xx < max(xl, xr) - rx * 0.8)
    arms = ((yy - top).abs() < thick) & ((xx < min(xl, xr) - rx * 0.9) | (xx > max(xl, xr) + rx * 0.9))
    frame = torch.maximum(rim, (bridge | arms).float())

    tint = TINTS[int(torch.randint(len(TINTS), (1,), generator=g))] * _u(0.3, 1.0, g)
    tint = (tint + torch.randn(3, generator=g) * 0.03).clamp(0, 1) * 255
    if c == 1:
        tint = tint.mean().view(1)
    alpha = _u(0.82, 1.0, g)  # lens opacity: below 1 the eyes show faintly
    out = img.clone()
    lens_colour = tint.view(c, 1, 1).expand(c, h, w).clone()
    # a soft diagonal highlight across the upper part of each lens
    shine = _u(0.0, 0.45, g)
    if shine > 0.02:
        angle = _u(-0.8, 0.8, g)
        for cx, cy in centres:
            t = ((xx - cx) * math.sin(angle) + (yy - cy + ry * 0.4) * math.cos(angle)) / (ry * 0.35)
            lens_colour += (shine * 255 * torch.exp(-t ** 2)).unsqueeze(0)
    lens_colour = lens_colour.clamp(0, 255)
    a = (lens * alpha).unsqueeze(0)
    out = out * (1 - a) + lens_colour * a
    frame_colour = (tint * _u(0.2, 0.8, g)).view(c, 1, 1)
    f = frame.unsqueeze(0) * _u(0.7, 1.0, g)
    return out * (1 - f) + frame_colour * f


class SunglassesSynth:
    """Paints sunglasses on a fraction ``p`` of the batch's faces whose ``target`` label is ``from``
    and relabels them ``label``. ``eyes_frac``: eye centres as fractions of the crop
    ([[xl, yl], [xr, yr]]), from the pack's aligned crop."""

    def __init__(self, cfg: Mapping[str, Any], eyes_frac: Tensor) -> None:
        unknown = set(cfg) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown sunglasses option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        c = {**DEFAULTS, **cfg}
        self.target, self.source, self.label, self.p = str(c["target"]), int(c["from"]), int(c["label"]), float(c["p"])
        self.eyes_frac = eyes_frac

    @staticmethod
    def from_config(cfg: Optional[Mapping[str, Any]], crop: Mapping[str, Any]) -> Optional["SunglassesSynth"]:
        if not cfg or float(cfg.get("p", 0)) <= 0:
            return None
        if crop.get("mode") != "aligned":
            raise ValueError("synthetic sunglasses need an aligned crop (eyes at known places); "
                             f"this pack's crop is {crop.get('mode')!r}")
        half, y = float(crop["eyeDistance"]) / 2, float(crop["eyeY"])
        return SunglassesSynth(cfg, torch.tensor([[0.5 - half, y], [0.5 + half, y]]))

    def __call__(self, x: Tensor, targets: Dict[str, Tensor], g: torch.Generator) -> Tensor:
        labels = targets[self.target]
        pick = (labels == self.source) & (torch.rand(len(labels), generator=g) < self.p)
        if not bool(pick.any()):
            return x
        h, w = x.shape[2], x.shape[3]
        eyes = self.eyes_frac * torch.tensor([w, h], dtype=torch.float32)
        x = x.clone()
        for i in torch.nonzero(pick).flatten().tolist():
            x[i] = paint_sunglasses(x[i], eyes, g)
        labels[pick] = self.label
        return x
