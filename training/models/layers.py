"""Building blocks shared by the architectures. Everything exports to ONNX opset <= 13."""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn


class LocalContrastNorm(nn.Module):
    """Local contrast normalisation (Jarrett et al. 2009, "What is the best multi-stage
    architecture for object recognition?", ref. [9] of paper 000).

    Subtractive step: v = x − Σ_{j,p,q} w_pq x_{j,i+p,k+q}, a Gaussian-weighted mean over a spatial
    neighbourhood of *all* feature maps (weights sum to 1). Divisive step: y = v / max(c, σ) with
    σ = sqrt(Σ w_pq v²) and c the mean of σ over the image (so flat regions are not amplified).

    The Gaussian blur of the one-channel map is two matrix products, B_h · m · B_wᵀ, with the 1-D
    Gaussian and reflection at the borders folded into B (reflection avoids the dark-border bias
    of zero padding). On CPU this is several times faster than a 9×9 single-channel convolution,
    whose PyTorch kernels are slow, and it exports to ONNX as plain MatMul/ReduceMean/Sqrt/Max.
    """

    def __init__(self, kernel_size: int = 9, sigma: float = 2.0, eps: float = 1e-4) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("LCN kernel_size must be odd")
        r = kernel_size // 2
        ax = torch.arange(kernel_size, dtype=torch.float64) - r
        g = torch.exp(-(ax ** 2) / (2 * sigma ** 2))
        self.g = (g / g.sum()).tolist()  # 1-D; the 2-D kernel is its outer product
        self.eps = eps
        self._mats: dict = {}  # (size, dtype, device) → blur matrix; per instance, rebuilt lazily

    def _matrix(self, n: int, like: torch.Tensor) -> torch.Tensor:
        key = (n, like.dtype, like.device)
        if key not in self._mats:
            r = len(self.g) // 2
            m = torch.zeros(n, n, dtype=torch.float64)
            for i in range(n):
                for t, w in enumerate(self.g):
                    j = i + t - r
                    while j < 0 or j >= n:  # reflect (without repeating the edge), as F.pad 'reflect'
                        j = -j if j < 0 else 2 * (n - 1) - j
                        if n == 1:
                            j = 0
                    m[i, j] += w
            self._mats[key] = m.to(like.dtype).to(like.device)
        return self._mats[key]

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        # Mean over feature maps, then the spatial Gaussian: the separable form of a weighting over
        # (j, p, q) that is uniform across maps, as in Jarrett et al.
        m = x.mean(dim=1, keepdim=True)
        with warnings.catch_warnings():
            # Under ONNX tracing the map size is a traced value; it is fixed by the model's input
            # size, so the blur matrices are constants of the graph (TracerWarning is expected).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            h, w = int(x.shape[2]), int(x.shape[3])
        bh, bw = self._matrix(h, x), self._matrix(w, x)
        return torch.matmul(torch.matmul(bh, m), bw.t())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x - self._blur(x)
        sigma = torch.sqrt(self._blur(v * v) + self.eps)
        c = sigma.mean(dim=(2, 3), keepdim=True)
        return v / torch.maximum(sigma, c)


def conv_bn_act(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None, groups: int = 1,
                act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2 if padding is None else padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): 3×3 → BN → ReLU → 3×3 → BN, + identity/projection."""

    def __init__(self, cin: int, cout: int, stride: int = 1, se: bool = False) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(cin, cout, 3, stride)
        self.conv2 = conv_bn_act(cout, cout, 3, 1, act=False)
        self.se = SqueezeExcite(cout) if se else nn.Identity()
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else conv_bn_act(cin, cout, 1, stride, 0, act=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.se(self.conv2(self.conv1(x))) + self.shortcut(x))

    def zero_init_last(self) -> None:
        # Each block starts as the identity (Goyal et al. 2017): steadier early training at high
        # learning rates. Called by init_weights() after the generic initialisation.
        nn.init.zeros_(self.conv2[1].weight)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gating from the global average."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class SeparableConv(nn.Module):
    """Depthwise 3×3 then pointwise 1×1 (Chollet 2017, as in mini-Xception), no bias (BN follows)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def flat_size(trunk: nn.Module, in_channels: int, input_size: int) -> int:
    """Number of features the trunk produces for one input (for sizing fully connected layers)."""
    with torch.no_grad():
        was = trunk.training
        trunk.eval()
        out = trunk(torch.zeros(1, in_channels, input_size, input_size))
        trunk.train(was)
    return int(math.prod(out.shape[1:]))
