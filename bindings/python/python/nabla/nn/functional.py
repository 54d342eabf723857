"""Functions of ``nabla.nn.functional``, with PyTorch's names and defaults."""
from __future__ import annotations

from typing import Optional

from .. import _nabla
from .._nabla import Tensor

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax",
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "layer_norm",
    "dropout", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss",
    "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
]


def _pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def relu(x: Tensor) -> Tensor:
    return x.relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return x.leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "none":
        return x.gelu()
    if approximate == "tanh":
        return x.gelu_tanh()
    raise ValueError(f"approximate={approximate!r}: 'none' or 'tanh'")


def silu(x: Tensor) -> Tensor:
    return x.silu()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.log_softmax(dim)


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    return _nabla.linear(input, weight, bias)


def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    return _nabla.conv2d(input, weight, bias, _pair(stride), _pair(padding), _pair(dilation), groups)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    k = _pair(kernel_size)
    return _nabla.max_pool2d(input, k, k if stride is None else _pair(stride), _pair(padding),
                             _pair(dilation), ceil_mode)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    k = _pair(kernel_size)
    return _nabla.avg_pool2d(input, k, k if stride is None else _pair(stride), _pair(padding),
                             ceil_mode, count_include_pad)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    return _nabla.adaptive_avg_pool2d(input, _pair(output_size))


def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    return _nabla.layer_norm(input, shape, weight, bias, eps)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    return _nabla.dropout(input, p, training)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100,
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``[N, C]`` with int64 class indices ``[N]`` or class
    probabilities ``[N, C]``."""
    return _nabla.cross_entropy(input, target, reduction, ignore_index, label_smoothing)


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100) -> Tensor:
    return _nabla.nll_loss(input, target, reduction, ignore_index)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _nabla.pointwise_loss("mse", input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _nabla.pointwise_loss("l1", input, target, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    return _nabla.pointwise_loss("huber", input, target, reduction, delta)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    return _nabla.pointwise_loss("smooth_l1", input, target, reduction, beta)


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _nabla.pointwise_loss("bce", input, target, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _nabla.pointwise_loss("bce_with_logits", input, target, reduction)
