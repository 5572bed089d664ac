"""Parameter and multiply-accumulate counts (forward pass, one image) from module hooks."""
from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, in_channels: int, input_size: int) -> int:
    """MACs of convolutions and linear layers for one input (the rest is small next to them)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, input_size, input_size))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return total
