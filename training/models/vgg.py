"""Barsoum et al. 2016 ("Training deep networks for facial expression recognition with crowd-sourced
label distribution"), the FER+ VGG13 variant described in paper 003 §7.1: conv blocks 64-64 /
128-128 / 256×3 / 256×3 (3×3), each followed by 2×2 max-pool and dropout 0.25; FC 1024-1024 with
dropout 0.5. Barsoum fed 64×64 gray; any 32–64 px input works (the FC is sized from it).

``batch_norm`` (default on) is our addition: the original CNTK net had none, which makes a
10-conv plain net slow to start from scratch with SGD; set it false for the original.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from .base import FaceModel, init_weights
from .layers import flat_size
from .registry import register

BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (256, 256, 256))


class VGG13FER(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, width: float = 1.0,
                 batch_norm: bool = True, conv_dropout: float = 0.25, fc: int = 1024, fc_dropout: float = 0.5,
                 blocks: Sequence[Sequence[int]] = BLOCKS) -> None:
        super().__init__(in_channels, heads, input_size, embed_dim=fc)
        layers: list[nn.Module] = []
        cin = in_channels
        for block in blocks:
            for ch in block:
                cout = max(1, round(ch * width))
                layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU(inplace=True))
                cin = cout
            layers += [nn.MaxPool2d(2, 2), nn.Dropout(conv_dropout)]
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        n_flat = flat_size(self.trunk, in_channels, input_size)
        self.fc = nn.Sequential(nn.Linear(n_flat, fc), nn.ReLU(inplace=True), nn.Dropout(fc_dropout),
                                nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(fc_dropout))
        self._build_heads()
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.trunk(x))


@register("vgg13", input_size=64, in_channels=1, min_input_size=16,
          description="Barsoum et al. FER+ VGG13 (paper 003 §7.1): 10 conv, FC 1024-1024, 64×64 gray")
def vgg13(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return VGG13FER(in_channels, heads, input_size, **kwargs)
