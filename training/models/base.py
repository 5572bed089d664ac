"""The one contract every architecture follows (after timm's ``forward_features``/``forward_head``)."""
from __future__ import annotations

from typing import Dict, Mapping

import torch
from torch import nn


class FaceModel(nn.Module):
    """Base class: a trunk producing an (N, D) embedding and one linear head per task.

    Sub-classes build their trunk and implement :meth:`forward_features`; the heads are shared
    code so that a joint multi-task network (paper 000 §5, paper 003 §7.11) only differs from a
    single-task one by the ``heads`` mapping. Keeping the heads linear on a shared embedding is
    what paper 000 means by "only the output layer changes" between tasks.
    """

    #: Set by the registry's ``create``.
    arch: str = ""
    arch_kwargs: Dict[str, object]

    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, embed_dim: int,
                 head_dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_size = input_size
        self.embed_dim = embed_dim
        self.head_sizes = dict(heads)
        self.head_dropout = nn.Dropout(head_dropout) if head_dropout > 0 else nn.Identity()
        # Heads are created by _build_heads() at the end of the sub-class constructor so that the
        # trunk's parameters come first (tests use the first parameter as "the first layer").
        self.heads = nn.ModuleDict()

    def _build_heads(self) -> None:
        for task, n in self.head_sizes.items():
            self.heads[task] = nn.Linear(self.embed_dim, n)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        feats = self.head_dropout(feats)
        return {task: head(feats) for task, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def first_layer(self) -> nn.Module:
        """The layer that sees the pixels (used to check that gradients reach it)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                return m
        raise RuntimeError("model has no conv/linear layer")


def init_weights(module: nn.Module, zero_init_residual: bool = False) -> None:
    """He-normal init for ReLU convs (He et al. 2015), unit BN, PyTorch's default for linear layers.

    ``zero_init_residual`` starts residual blocks as the identity (Goyal et al. 2017, their
    ``zero_init_last``). Off by default: on FER2013 it slowed early training of compact_resnet badly
    (val 27% vs 44% after 240 Adam steps) — with Adam a zero BN scale grows by only ~lr per step,
    and until it does, the block's first conv gets no gradient."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)  # PyTorch's default, kept explicit
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in module.modules():
            if hasattr(m, "zero_init_last"):
                m.zero_init_last()
