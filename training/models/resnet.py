"""Residual networks adapted to 48–64 px faces: ResNet-18, Wide ResNet, and ``compact_resnet``,
our CPU-efficient design, plus ``tiny`` (test fixtures only).

ImageNet ResNets downsample 4× in the stem (7×7/2 conv + max-pool); on a 48 px face that leaves a
12×12 map before the first block and costs accuracy, so the 48–64 px versions use the CIFAR-style
3×3 stride-1 stem (He et al. 2016 §4.2; paper 003 §7 trains them this way on FER+).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import FaceModel, init_weights
from .layers import BasicBlock, conv_bn_act
from .registry import register


def _stage(cin: int, cout: int, blocks: int, stride: int, se: bool = False) -> nn.Sequential:
    layers = [BasicBlock(cin, cout, stride, se)]
    layers += [BasicBlock(cout, cout, 1, se) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(FaceModel):
    """Stem → stages of BasicBlocks → global average pool → embedding."""

    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, stem: nn.Module,
                 stem_channels: int, widths: Sequence[int], blocks: Sequence[int], strides: Sequence[int],
                 se: bool = False, head_dropout: float = 0.0, zero_init_residual: bool = False) -> None:
        if not len(widths) == len(blocks) == len(strides):
            raise ValueError("widths, blocks and strides need one entry per stage")
        super().__init__(in_channels, heads, input_size, embed_dim=widths[-1], head_dropout=head_dropout)
        self.stem = stem
        stages, cin = [], stem_channels
        for w, b, s in zip(widths, blocks, strides):
            stages.append(_stage(cin, w, b, s, se))
            cin = w
        self.stages = nn.Sequential(*stages)
        self._build_heads()
        init_weights(self, zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))


@register("resnet18", input_size=48, in_channels=1, min_input_size=16,
          description="ResNet-18 (He et al. 2016), CIFAR-style 3×3 stride-1 stem for 48–64 px faces")
def resnet18(in_channels: int, heads: Mapping[str, int], input_size: int, *, stem_stride: int = 1,
             width: float = 1.0, head_dropout: float = 0.0, zero_init_residual: bool = False) -> FaceModel:
    widths = [round(c * width) for c in (64, 128, 256, 512)]
    return ResNet(in_channels, heads, input_size, stem=conv_bn_act(in_channels, widths[0], 3, stem_stride),
                  stem_channels=widths[0], widths=widths, blocks=(2, 2, 2, 2), strides=(1, 2, 2, 2),
                  head_dropout=head_dropout, zero_init_residual=zero_init_residual)


@register("compact_resnet", input_size=48, in_channels=1, min_input_size=16,
          description="facesense compact ResNet for 2-core CPU training: 2.4M params, 0.16 GMAC at 48 px")
def compact_resnet(in_channels: int, heads: Mapping[str, int], input_size: int, *, stem: int = 32,
                   widths: Sequence[int] = (64, 128, 256), blocks: Sequence[int] = (1, 1, 2), se: bool = False,
                   head_dropout: float = 0.2, zero_init_residual: bool = False) -> FaceModel:
    """Why this shape (accuracy per FLOP at 48×48 on a CPU):

    * The full-resolution layer is a single cheap 3×3×``stem`` conv, then a strided 3×3 conv: on CPU,
      convs at 48×48 with few channels run at half the MAC/s of those at 12×12 (memory-bound), and
      most of FER's signal (mouth/eye shape) survives at 24×24.
    * Residual BasicBlocks with BatchNorm at 24 / 12 / 6 px and widths doubling as the map halves
      keep every stage at about the same MACs while putting the parameters (capacity) where they are
      cheapest — the 6×6 stage. Plain dense 3×3 convs: depthwise convs have few MACs but run slowly
      in PyTorch's CPU backward pass, so they lose on images/s (see training/bench.py).
    * Global average pooling + dropout 0.2 before the linear heads instead of big FC layers
      (paper 000's FC holds 88M of its weights) — far fewer parameters to overfit FER2013's 28k faces.
    """
    body = nn.Sequential(conv_bn_act(in_channels, stem, 3, 1), conv_bn_act(stem, widths[0], 3, 2))
    return ResNet(in_channels, heads, input_size, stem=body, stem_channels=widths[0], widths=widths,
                  blocks=blocks, strides=(1,) + (2,) * (len(widths) - 1), se=se, head_dropout=head_dropout,
                  zero_init_residual=zero_init_residual)


class WideBlock(nn.Module):
    """Pre-activation wide block (Zagoruyko & Komodakis 2016): BN-ReLU-conv-BN-ReLU-dropout-conv."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        # When the shape changes, the projection sees the pre-activated input (as in the WRN code).
        short = x if self.shortcut is None else self.shortcut(o)
        o = F.relu(self.bn2(self.conv1(o)))
        if self.dropout > 0:
            o = F.dropout(o, self.dropout, self.training)
        return self.conv2(o) + short


class WideResNet(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, depth: int = 28,
                 widen: int = 4, dropout: float = 0.3, stem_stride: int = 1, head_dropout: float = 0.0) -> None:
        if (depth - 4) % 6 != 0:
            raise ValueError(f"Wide ResNet depth must be 6n+4 (10, 16, 22, 28, 40), got {depth}")
        n = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        super().__init__(in_channels, heads, input_size, embed_dim=widths[-1], head_dropout=head_dropout)
        self.stem = nn.Conv2d(in_channels, 16, 3, stem_stride, 1, bias=False)
        blocks: list[nn.Module] = []
        cin = 16
        for w, s in zip(widths, (1, 2, 2)):
            for i in range(n):
                blocks.append(WideBlock(cin, w, s if i == 0 else 1, dropout))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self._build_heads()
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.blocks(self.stem(x)))).mean(dim=(2, 3))


@register("wrn", input_size=48, in_channels=1, min_input_size=16,
          description="Wide ResNet (Zagoruyko & Komodakis 2016); default WRN-28-4, dropout 0.3 (paper 003 §7.9)")
def wrn(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return WideResNet(in_channels, heads, input_size, **kwargs)


class TinyNet(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, width: int = 8) -> None:
        super().__init__(in_channels, heads, input_size, embed_dim=2 * width)
        self.trunk = nn.Sequential(conv_bn_act(in_channels, width, 3, 2), conv_bn_act(width, 2 * width, 3, 2))
        self._build_heads()
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=(2, 3))


@register("tiny", input_size=48, in_channels=1, min_input_size=8,
          description="two strided convs + linear head; a few kB, for test fixtures and smoke runs")
def tiny(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return TinyNet(in_channels, heads, input_size, **kwargs)
