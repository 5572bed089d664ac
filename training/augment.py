"""Batch-wise augmentation with plain torch ops on float images in 0..255, shape (N, C, H, W).

Every function takes a ``torch.Generator`` so a batch's augmentation is a pure function of its
seed: a run resumed from a checkpoint replays exactly the batches it would have seen.

Covers what the papers use: horizontal flip (002, 003), scale/rotation/translation (003, Barsoum),
JPEG compression and coarse dropout (001), plus brightness/contrast jitter, and the degradations of
photos from elsewhere (issue 17): gamma, colour casts, gray, blur, down/up-scaling, noise. JPEG runs in torch too
(the lossy part of baseline JPEG: 8×8 DCT + IJG quantisation tables), so it needs neither
torchvision nor PIL — neither is installed with Debian's python3-torch.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def _chosen(n: int, p: float, g: torch.Generator) -> Tensor:
    return torch.rand(n, generator=g) < p


def hflip(x: Tensor, p: float, g: torch.Generator) -> Tensor:
    """Mirror a random subset of the batch left-right."""
    if p <= 0:
        return x
    mask = _chosen(x.shape[0], p, g).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(-1), x)


def random_affine(x: Tensor, g: torch.Generator, *, p: float = 1.0, scale: Sequence[float] = (1.0, 1.0),
                  rotate_deg: float = 0.0, translate: float = 0.0) -> Tensor:
    """Per-image zoom (``scale`` > 1 zooms in), in-plane rotation and translation (fraction of the
    size), one bilinear resample per batch; borders replicate the edge pixels rather than paint
    black corners, which the model would otherwise learn as a cue."""
    n = x.shape[0]
    if p <= 0 or (scale[0] == scale[1] == 1.0 and rotate_deg == 0 and translate == 0):
        return x
    s = _uniform(n, scale[0], scale[1], g)
    a = _uniform(n, -rotate_deg, rotate_deg, g) * (math.pi / 180)
    t = _uniform(2 * n, -translate, translate, g).view(n, 2) * 2  # grid coordinates span 2
    keep = ~_chosen(n, p, g)
    s = torch.where(keep, torch.ones_like(s), s)
    a = torch.where(keep, torch.zeros_like(a), a)
    t = torch.where(keep[:, None], torch.zeros_like(t), t)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    # theta maps output grid coordinates to input coordinates.
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def brightness_contrast(x: Tensor, g: torch.Generator, *, brightness: float = 0.0, contrast: float = 0.0) -> Tensor:
    """x → (x − mean)·c + mean + b, c ∈ [1−contrast, 1+contrast], b ∈ ±brightness·255."""
    if brightness <= 0 and contrast <= 0:
        return x
    n = x.shape[0]
    c = _uniform(n, 1 - contrast, 1 + contrast, g).view(-1, 1, 1, 1)
    b = _uniform(n, -brightness, brightness, g).view(-1, 1, 1, 1) * 255
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - m) * c + m + b).clamp(0, 255)


def random_erase(x: Tensor, g: torch.Generator, *, p: float = 0.5, area: Sequence[float] = (0.02, 0.25),
                 aspect: Sequence[float] = (0.3, 3.3), count: int = 1, fill: str = "noise") -> Tensor:
    """Coarse dropout / random erasing (DeVries & Taylor 2017; Zhong et al. 2020): up to ``count``
    rectangles per chosen image, filled with uniform noise (``noise``), the image mean (``mean``)
    or black (``zero``). Vectorised over the batch with coordinate masks."""
    if p <= 0 or count < 1:
        return x
    n, _, h, w = x.shape
    yy = torch.arange(h).view(1, h, 1)
    xx = torch.arange(w).view(1, 1, w)
    mask = torch.zeros(n, h, w, dtype=torch.bool)
    for _ in range(count):
        chosen = _chosen(n, p, g)
        ar = _uniform(n, area[0], area[1], g) * h * w
        logr = _uniform(n, math.log(aspect[0]), math.log(aspect[1]), g)
        eh = torch.sqrt(ar * torch.exp(logr)).round().clamp(1, h).long()
        ew = torch.sqrt(ar / torch.exp(logr)).round().clamp(1, w).long()
        y0 = (torch.rand(n, generator=g) * (h - eh + 1)).long()
        x0 = (torch.rand(n, generator=g) * (w - ew + 1)).long()
        box = ((yy >= y0.view(-1, 1, 1)) & (yy < (y0 + eh).view(-1, 1, 1))
               & (xx >= x0.view(-1, 1, 1)) & (xx < (x0 + ew).view(-1, 1, 1)))
        mask |= box & chosen.view(-1, 1, 1)
    if fill == "noise":
        value = torch.rand(x.shape, generator=g) * 255
    elif fill == "mean":
        value = x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    elif fill == "zero":
        value = torch.zeros_like(x)
    else:
        raise ValueError(f"erase fill must be noise, mean or zero, got {fill!r}")
    return torch.where(mask.unsqueeze(1), value.to(x.dtype), x)


# --- JPEG -------------------------------------------------------------------------------------

# ITU T.81 Annex K tables (the ones libjpeg scales by quality).
_Q_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)
_Q_CHROMA = torch.tensor([
    [17, 18, 24, 47, 99, 99, 99, 99], [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99], [47, 66, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99], [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99], [99, 99, 99, 99, 99, 99, 99, 99]], dtype=torch.float32)


def _dct_matrix() -> Tensor:
    # Orthonormal DCT-II; JPEG's FDCT (with its 1/4·C(u)C(v) factor) is exactly this for N = 8.
    k = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.float()


_DCT = _dct_matrix()


def quality_tables(quality: Tensor, base: Tensor) -> Tensor:
    """IJG quality scaling (libjpeg jcparam.c): q<50 → 5000/q %, else 200−2q %; entries 1..255."""
    q = quality.float().clamp(1, 100)
    s = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    t = torch.floor((base[None] * s.view(-1, 1, 1) + 50) / 100)
    return t.clamp(1, 255)


def _jpeg_plane(x: Tensor, tables: Tensor) -> Tensor:
    """Quantise one plane per image: x (N, H, W) in 0..255, tables (N, 8, 8)."""
    n, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        x = F.pad(x.unsqueeze(1), (0, pw, 0, ph), mode="replicate").squeeze(1)
    hh, ww = x.shape[1] // 8, x.shape[2] // 8
    blocks = (x - 128).view(n, hh, 8, ww, 8).permute(0, 1, 3, 2, 4)  # (N, hh, ww, 8, 8)
    coef = _DCT @ blocks @ _DCT.T
    q = tables.view(n, 1, 1, 8, 8)
    coef = torch.round(coef / q) * q
    out = (_DCT.T @ coef @ _DCT).permute(0, 1, 3, 2, 4).reshape(n, hh * 8, ww * 8) + 128
    return out[:, :h, :w]


def jpeg_compress(x: Tensor, quality: Tensor) -> Tensor:
    """Baseline-JPEG round trip of a batch, ``quality`` (N,) in 1..100.

    Gray: level shift, 8×8 DCT, quantise with the scaled luminance table, inverse. Colour: JFIF
    YCbCr, 4:2:0 chroma subsampling (2×2 mean, nearest-neighbour upsampling) with the chrominance
    table. Entropy coding is lossless and omitted; decoder output is rounded to 8 bits.
    """
    n, c, h, w = x.shape
    qy = quality_tables(quality, _Q_LUMA)
    if c == 1:
        return _jpeg_plane(x[:, 0], qy).round().clamp(0, 255).unsqueeze(1)
    if c != 3:
        raise ValueError(f"JPEG needs 1 or 3 channels, got {c}")
    r, gch, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * gch + 0.114 * b
    cb = -0.168736 * r - 0.331264 * gch + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * gch - 0.081312 * b + 128
    qc = quality_tables(quality, _Q_CHROMA)
    y = _jpeg_plane(y, qy)
    chroma = F.avg_pool2d(torch.stack([cb, cr], 1), 2, ceil_mode=True)
    cb2 = _jpeg_plane(chroma[:, 0], qc)
    cr2 = _jpeg_plane(chroma[:, 1], qc)
    up = F.interpolate(torch.stack([cb2, cr2], 1), scale_factor=2, mode="nearest")[:, :, :h, :w]
    cb, cr = up[:, 0] - 128, up[:, 1] - 128
    rgb = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    return rgb.round().clamp(0, 255)


def random_jpeg(x: Tensor, g: torch.Generator, *, p: float = 0.5, quality: Sequence[float] = (30, 95)) -> Tensor:
    if p <= 0:
        return x
    chosen = _chosen(x.shape[0], p, g).nonzero().flatten()
    q = _uniform(x.shape[0], quality[0], quality[1], g).round()
    if chosen.numel() == 0:
        return x
    out = x.clone()
    out[chosen] = jpeg_compress(x[chosen], q[chosen])
    return out


# --- photos from elsewhere (issue 17): degradations the datasets' own crops lack -------------------

def random_gamma(x: Tensor, g: torch.Generator, *, p: float = 0.0, gamma: Sequence[float] = (0.7, 1.5)) -> Tensor:
    """255·(x/255)^γ per image: under- and over-exposed photos."""
    if p <= 0:
        return x
    n = x.shape[0]
    gm = torch.exp(_uniform(n, math.log(gamma[0]), math.log(gamma[1]), g))
    gm = torch.where(_chosen(n, p, g), gm, torch.ones_like(gm)).view(-1, 1, 1, 1)
    return 255.0 * (x / 255.0).clamp(0, 1) ** gm


def colour_cast(x: Tensor, g: torch.Generator, *, p: float = 0.0, strength: float = 0.15) -> Tensor:
    """Per-channel gains in 1 ± strength (white balance, tinted light); no-op on gray input."""
    if p <= 0 or x.shape[1] == 1:
        return x
    n, c = x.shape[0], x.shape[1]
    gains = _uniform(n * c, 1 - strength, 1 + strength, g).view(n, c, 1, 1)
    gains = torch.where(_chosen(n, p, g).view(-1, 1, 1, 1), gains, torch.ones_like(gains))
    return (x * gains).clamp(0, 255)


def random_gray(x: Tensor, g: torch.Generator, *, p: float = 0.0) -> Tensor:
    """Black-and-white photos: luma (BT.601) copied to every channel."""
    if p <= 0 or x.shape[1] != 3:
        return x
    luma = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    return torch.where(_chosen(x.shape[0], p, g).view(-1, 1, 1, 1), luma, x)


def _gaussian_kernels(sigma: Tensor, radius: int) -> Tensor:
    r = torch.arange(-radius, radius + 1, dtype=sigma.dtype)
    k = torch.exp(-(r[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    return k / k.sum(dim=1, keepdim=True)


def random_blur(x: Tensor, g: torch.Generator, *, p: float = 0.0, sigma: Sequence[float] = (0.4, 1.6)) -> Tensor:
    """Separable Gaussian blur with a per-image sigma (out of focus, motion-free)."""
    if p <= 0:
        return x
    n, c, h, w = x.shape
    s = _uniform(n, sigma[0], sigma[1], g)
    chosen = _chosen(n, p, g)
    radius = int(math.ceil(3 * sigma[1]))
    k = _gaussian_kernels(s, radius)  # (n, 2r+1)
    # One grouped convolution for the batch: each image's channels get that image's kernel.
    kk = k.repeat_interleave(c, dim=0)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), kk.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), kk.view(n * c, 1, -1, 1), groups=n * c)
    return torch.where(chosen.view(-1, 1, 1, 1), y.view(n, c, h, w), x)


def random_rescale(x: Tensor, g: torch.Generator, *, p: float = 0.0, scale: Sequence[float] = (0.35, 0.9)) -> Tensor:
    """Small faces: down-scale by a per-image factor (area) and back up (bilinear), as a face of
    few pixels enlarged to the model's input looks. Done in a few factor groups per batch."""
    if p <= 0:
        return x
    n, _, h, w = x.shape
    f = _uniform(n, scale[0], scale[1], g)
    chosen = _chosen(n, p, g)
    out = x.clone()
    for lo in torch.linspace(scale[0], scale[1], 5)[:-1].tolist():
        step = (scale[1] - scale[0]) / 4
        sel = (chosen & (f >= lo) & (f < lo + step + 1e-9)).nonzero().flatten()
        if sel.numel() == 0:
            continue
        size = (max(4, round(h * (lo + step / 2))), max(4, round(w * (lo + step / 2))))
        small = F.interpolate(x[sel], size=size, mode="area")
        out[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def random_noise(x: Tensor, g: torch.Generator, *, p: float = 0.0, std: Sequence[float] = (2.0, 10.0)) -> Tensor:
    """Additive Gaussian sensor noise, per-image standard deviation in 0..255 units."""
    if p <= 0:
        return x
    n = x.shape[0]
    s = _uniform(n, std[0], std[1], g) * _chosen(n, p, g).to(x.dtype)
    return (x + torch.randn(x.shape, generator=g, dtype=x.dtype) * s.view(-1, 1, 1, 1)).clamp(0, 255)


# --- configured pipeline ----------------------------------------------------------------------

#: Documented defaults: everything off. Configs switch on what they want (see training/README.md).
DEFAULTS: dict[str, Any] = {
    "hflip": 0.0,
    "affine": {"p": 0.0, "scale": [1.0, 1.0], "rotate_deg": 0.0, "translate": 0.0},
    "jpeg": {"p": 0.0, "quality": [30, 95]},
    "brightness": 0.0,
    "contrast": 0.0,
    "erase": {"p": 0.0, "area": [0.02, 0.25], "aspect": [0.3, 3.3], "count": 1, "fill": "noise"},
    "gamma": {"p": 0.0, "gamma": [0.7, 1.5]},
    "colour": {"p": 0.0, "strength": 0.15},
    "gray": 0.0,
    "blur": {"p": 0.0, "sigma": [0.4, 1.6]},
    "rescale": {"p": 0.0, "scale": [0.35, 0.9]},
    "noise": {"p": 0.0, "std": [2.0, 10.0]},
}


class Augmenter:
    """Applies the configured augmentations in a fixed order: JPEG first (it models how the source
    photo was stored), then geometry, photometric jitter, and erasing last (occluders are in front)."""

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None) -> None:
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown augment option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.cfg = {k: ({**v, **cfg.get(k, {})} if isinstance(v, dict) else cfg.get(k, v)) for k, v in DEFAULTS.items()}

    @property
    def active(self) -> bool:
        c = self.cfg
        return bool(c["hflip"] > 0 or c["affine"]["p"] > 0 or c["jpeg"]["p"] > 0 or c["brightness"] > 0
                    or c["contrast"] > 0 or c["erase"]["p"] > 0 or c["gray"] > 0
                    or any(c[k]["p"] > 0 for k in ("gamma", "colour", "blur", "rescale", "noise")))

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        c = self.cfg
        x = random_jpeg(x, g, **c["jpeg"])
        x = hflip(x, c["hflip"], g)
        x = random_affine(x, g, **c["affine"])
        x = brightness_contrast(x, g, brightness=c["brightness"], contrast=c["contrast"])
        # Light and camera, then optics and size, then sensor noise (each off unless configured;
        # off draws nothing from the generator, so older configs replay the same batches).
        x = random_gamma(x, g, **c["gamma"])
        x = colour_cast(x, g, **c["colour"])
        x = random_gray(x, g, p=c["gray"])
        x = random_blur(x, g, **c["blur"])
        x = random_rescale(x, g, **c["rescale"])
        x = random_noise(x, g, **c["noise"])
        return random_erase(x, g, **c["erase"])
