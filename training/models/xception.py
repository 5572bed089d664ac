"""mini-Xception (Arriaga, Valdenegro-Toro & Plöger 2017, "Real-time convolutional neural networks
for emotion and gender classification"): two 3×3×8 convs, four residual modules of depthwise-
separable convs (16, 32, 64, 128 maps) with strided 1×1 shortcuts, global average pooling.

Deviation: the original ends with a 3×3 conv to the class count before global pooling; here the
pooled 128-d map is the embedding and each task gets a linear head, which keeps the one model
contract (and lets one trunk serve several tasks, as the original's gender variant does).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from .base import FaceModel, init_weights
from .layers import SeparableConv, conv_bn_act
from .registry import register


class XceptionModule(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = conv_bn_act(cin, cout, 1, 2, 0, act=False)
        self.body = nn.Sequential(
            SeparableConv(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            SeparableConv(cout, cout), nn.BatchNorm2d(cout),
            nn.MaxPool2d(3, 2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *,
                 stem: int = 8, widths: Sequence[int] = (16, 32, 64, 128), head_dropout: float = 0.0) -> None:
        super().__init__(in_channels, heads, input_size, embed_dim=widths[-1], head_dropout=head_dropout)
        # Keras 'valid' padding in the two stem convs, as in the original (48 → 46 → 44).
        self.stem = nn.Sequential(conv_bn_act(in_channels, stem, 3, 1, 0), conv_bn_act(stem, stem, 3, 1, 0))
        mods, cin = [], stem
        for w in widths:
            mods.append(XceptionModule(cin, w))
            cin = w
        self.modules_ = nn.Sequential(*mods)
        self._build_heads()
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.modules_(self.stem(x)).mean(dim=(2, 3))


@register("mini_xception", input_size=48, in_channels=1,
          normalisation={"kind": "meanstd", "scale": 1 / 255, "mean": [0.5], "std": [0.5]},
          description="Arriaga et al. 2017 mini-Xception: separable-conv residual modules, ~60k params")
def mini_xception(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return MiniXception(in_channels, heads, input_size, **kwargs)
