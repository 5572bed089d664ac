"""Paper 000 (Gudi, "Recognizing semantic features in faces using deep learning", §3.5, Fig. 5).

48×48 gray → conv 5×5×64 (valid, 44×44) → ReLU → LCN → max-pool 3×3/2 (22×22) → conv 5×5×64
(18×18) → conv 4×4×128 (15×15) → FC 3072 + dropout → softmax. ReLU throughout. The builder
takes the knobs of the paper's studies (§4.1): depth × width grid, where LCN and pooling sit,
dropout in conv vs FC layers, and the input size (the kernels stay fixed, as in the paper).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from .base import FaceModel, init_weights
from .layers import LocalContrastNorm, flat_size
from .registry import register

#: (channels, kernel) of the paper's three conv layers, extended for the depth study.
DEFAULT_CONVS: tuple[tuple[int, int], ...] = ((64, 5), (64, 5), (128, 4), (128, 3), (256, 3), (256, 3))


class Paper000Net(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, depth: int = 3,
                 width: float = 1.0, convs: Sequence[Sequence[int]] | None = None, fc: int = 3072,
                 fc_dropout: float = 0.2, conv_dropout: float = 0.0, lcn: Sequence[int] = (1,),
                 pool: Sequence[int] = (1,), lcn_kernel: int = 9, lcn_sigma: float = 2.0) -> None:
        if convs is None and not 1 <= depth <= len(DEFAULT_CONVS):
            raise ValueError(f"paper000 depth must be 1..{len(DEFAULT_CONVS)}, got {depth} (or pass convs)")
        specs = [tuple(c) for c in convs] if convs is not None else list(DEFAULT_CONVS[:depth])
        if not specs:
            raise ValueError("paper000 needs at least one conv layer")
        layers: list[nn.Module] = []
        cin = in_channels
        for i, (ch, k) in enumerate(specs, start=1):
            cout = max(1, round(ch * width))
            # Valid convolutions (no padding): the paper's map sizes 44 → 22 → 18 → 15.
            layers += [nn.Conv2d(cin, cout, k), nn.ReLU(inplace=True)]
            if i in lcn:
                layers.append(LocalContrastNorm(lcn_kernel, lcn_sigma))
            if i in pool:
                # ceil_mode reproduces the paper's 44 → 22 (Caffe/cuda-convnet pooling convention).
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            if conv_dropout > 0:
                layers.append(nn.Dropout(conv_dropout))
            cin = cout
        trunk = nn.Sequential(*layers, nn.Flatten())
        n_flat = flat_size(trunk, in_channels, input_size)
        super().__init__(in_channels, heads, input_size, embed_dim=fc if fc > 0 else n_flat)
        self.trunk = trunk
        # FC 3072 with dropout is the embedding; the per-task output layer is the head (§5: "only
        # the output layer changes" when the network is retargeted to age, gender, ...).
        self.fc = (nn.Sequential(nn.Linear(n_flat, fc), nn.ReLU(inplace=True), nn.Dropout(fc_dropout))
                   if fc > 0 else nn.Dropout(fc_dropout))
        self._build_heads()
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.trunk(x))


@register("paper000", input_size=48, in_channels=1, min_input_size=24,
          normalisation={"kind": "gcn", "norm": 100.0},
          description="Gudi et al. (paper 000): 3 conv + LCN + FC 3072, 48×48 gray, GCN input")
def paper000(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return Paper000Net(in_channels, heads, input_size, **kwargs)
