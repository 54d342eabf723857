"""Layers with PyTorch's names and state-dict keys. A layer's parameters are ``Tensor``
leaves (``requires_grad``) that share their values with the compiled module, so an
optimizer's ``step()`` changes what the next forward pass uses.

Recurrent layers called directly return ``(output, state)`` as PyTorch's do; inside
``Sequential`` a layer's tuple output passes on its first element (the output sequence),
so ``Sequential(Embedding(..), LSTM(..), Linear(..))`` is a language model.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from .. import _nabla
from .._nabla import Tensor
from . import functional

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Identity", "Linear", "Conv2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout",
    "Dropout2d", "Embedding", "LSTM", "GRU", "RNN", "LayerNorm", "MultiheadAttention",
    "TransformerEncoderLayer", "TransformerEncoder", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "GELU", "SiLU", "Softmax", "LogSoftmax", "Flatten", "CrossEntropyLoss", "MSELoss",
    "L1Loss", "NLLLoss", "BCEWithLogitsLoss", "functional",
]


def Parameter(data: Tensor, requires_grad: bool = True) -> Tensor:
    """A copy of ``data`` as a leaf that requires grad (a module's trainable tensor)."""
    t = Tensor._from_numpy(data.numpy(), False)
    return t.requires_grad_(requires_grad)


class Module:
    """The base of every layer, as ``torch.nn.Module``: subclass it, assign parameters
    (``Parameter``) and sub-modules as attributes, and write ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_modules" not in self.__dict__:
            raise AttributeError("call super().__init__() before assigning attributes")
        if isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            self._parameters[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Tensor]]:
        """(name, parameter) pairs, names as PyTorch's state-dict keys."""
        for n, p in self._parameters.items():
            yield prefix + n, p
        for mn, m in self._modules.items():
            yield from m.named_parameters(prefix + mn + ".")

    def parameters(self) -> List[Tensor]:
        """The trainable tensors (for an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[Tuple[str, Tensor]]:
        for n, b in self._buffers.items():
            yield prefix + n, b
        for mn, m in self._modules.items():
            yield from m.named_buffers(prefix + mn + ".")

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def modules(self) -> Iterator["Module"]:
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout on, batch norm on batch statistics) for this module and
        its children."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        """Inference mode."""
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def _state_items(self, prefix: str = "") -> Iterator[Tuple[str, Tensor]]:
        # PyTorch's order: a module's parameters, its buffers, then its children's
        for n, p in self._parameters.items():
            yield prefix + n, p
        for n, b in self._buffers.items():
            yield prefix + n, b
        for mn, m in self._modules.items():
            yield from m._state_items(prefix + mn + ".")

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by name (detached copies), named and ordered as PyTorch's."""
        return OrderedDict((n, t.detach()) for n, t in self._state_items())

    def load_state_dict(self, state: Dict[str, Tensor], strict: bool = True) -> None:
        """Sets parameters and buffers from ``state`` (``nabla.load``'s result, or another
        model's ``state_dict()``). Raises ValueError naming missing, unexpected or
        misshapen entries."""
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for k, target in own.items():
            if k not in state:
                continue
            v = state[k]
            if not isinstance(v, Tensor):
                raise TypeError(f"load_state_dict: {k} is a {type(v).__name__}, not a Tensor")
            if tuple(v.shape) != tuple(target.shape):
                raise ValueError(f"load_state_dict: {k} has shape {tuple(v.shape)}, the model's is {tuple(target.shape)}")
            _assign(target, v)

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for n, m in self._modules.items():
            lines.append(f"  ({n}): " + repr(m).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


def _assign(target: Tensor, value: Tensor) -> None:
    """Sets a leaf's value in place (the compiled module sees it)."""
    _nabla._assign(target, value)


class _Compiled(Module):
    """A layer whose forward pass is one compiled nabla module."""

    def __init__(self, layer: "_nabla.Layer") -> None:
        super().__init__()
        object.__setattr__(self, "_layer", layer)
        for n, p in layer.parameters():
            self._parameters[n] = p
        for n, b in layer.buffers():
            self._buffers[n] = b

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if name in d.get("_parameters", {}):
            return d["_parameters"][name]
        if name in d.get("_buffers", {}):
            return d["_buffers"][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name}")

    def forward(self, x: Tensor) -> Tensor:
        return self._layer.forward(x, self.training)


def _pair(v: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class Linear(_Compiled):
    """``y = x Wᵀ + b`` over the last dim; weights drawn as PyTorch's."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(_nabla.new_linear(in_features, out_features, bias))
        self.in_features, self.out_features = in_features, out_features

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={'bias' in self._parameters}"


class Conv2d(_Compiled):
    """A 2-d convolution over ``[N, C, H, W]`` (padding: sizes, ``"same"`` or ``"valid"``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True) -> None:
        k, d = _pair(kernel_size), _pair(dilation)
        if padding == "valid":
            padding = 0
        if padding == "same":
            if _pair(stride) != (1, 1):
                raise ValueError("padding='same' needs stride 1")
            total = [d[i] * (k[i] - 1) for i in range(2)]
            if any(t % 2 for t in total):
                raise ValueError("padding='same' with an even kernel extent is not supported; give the padding")
            padding = (total[0] // 2, total[1] // 2)
        super().__init__(_nabla.new_conv2d(in_channels, out_channels, k, _pair(stride),
                                           _pair(padding), d, groups, bias))
        self.kernel_size = k


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> None:
        super().__init__()
        self.k = _pair(kernel_size)
        self.s = self.k if stride is None else _pair(stride)
        self.p, self.d, self.ceil = _pair(padding), _pair(dilation), ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return _nabla.max_pool2d(x, self.k, self.s, self.p, self.d, self.ceil)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> None:
        super().__init__()
        self.k = _pair(kernel_size)
        self.s = self.k if stride is None else _pair(stride)
        self.p, self.ceil, self.cip = _pair(padding), ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return _nabla.avg_pool2d(x, self.k, self.s, self.p, self.ceil, self.cip)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size) -> None:
        super().__init__()
        self.size = _pair(output_size)

    def forward(self, x: Tensor) -> Tensor:
        return _nabla.adaptive_avg_pool2d(x, self.size)


class BatchNorm1d(_Compiled):
    """Batch normalization over ``[N, C]`` or ``[N, C, L]``: batch statistics in training
    (updating the running ones), the running statistics in ``eval()``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__(_nabla.new_batch_norm(1, num_features, eps, momentum, affine))


class BatchNorm2d(_Compiled):
    """Batch normalization over ``[N, C, H, W]``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__(_nabla.new_batch_norm(2, num_features, eps, momentum, affine))


class Dropout(_Compiled):
    """Zeroes elements with probability ``p`` in training (masks from the global stream)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(_nabla.new_dropout(p, False))


class Dropout2d(_Compiled):
    """Zeroes whole channels with probability ``p`` in training."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(_nabla.new_dropout(p, True))


class Embedding(_Compiled):
    """A table of ``num_embeddings`` vectors, looked up by int64 ids."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__(_nabla.new_embedding(num_embeddings, embedding_dim))


class LayerNorm(_Compiled):
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True) -> None:
        shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
        super().__init__(_nabla.new_layer_norm(shape, eps, elementwise_affine, bias))


class _Recurrent(_Compiled):
    _kind = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh") -> None:
        kind = self._kind
        if kind == "rnn":
            if nonlinearity not in ("tanh", "relu"):
                raise ValueError(f"nonlinearity={nonlinearity!r}: 'tanh' or 'relu'")
            kind = "rnn_" + nonlinearity
        super().__init__(_nabla.new_recurrent(kind, input_size, hidden_size, num_layers, bias,
                                              batch_first, dropout, bidirectional))


class LSTM(_Recurrent):
    """An LSTM stack; ``lstm(x, (h0, c0))`` returns ``(output, (h, c))`` as PyTorch's."""
    _kind = "lstm"

    def forward(self, x: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None):
        h0, c0 = (None, None) if hx is None else hx
        y, h, c = self._layer.forward_state(x, self.training, h0, c0)
        return y, (h, c)


class GRU(_Recurrent):
    """A GRU stack; ``gru(x, h0)`` returns ``(output, h)``."""
    _kind = "gru"

    def forward(self, x: Tensor, hx: Optional[Tensor] = None):
        y, h, _ = self._layer.forward_state(x, self.training, hx)
        return y, h


class RNN(_Recurrent):
    """An Elman RNN stack (tanh or relu); ``rnn(x, h0)`` returns ``(output, h)``."""
    _kind = "rnn"

    def forward(self, x: Tensor, hx: Optional[Tensor] = None):
        y, h, _ = self._layer.forward_state(x, self.training, hx)
        return y, h


class MultiheadAttention(_Compiled):
    """Multi-head self-attention. ``attn(x, x, x)`` returns ``(output, None)`` (no attention
    weights); key and value must be the query (self-attention)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, is_causal: bool = False) -> None:
        super().__init__(_nabla.new_multihead_attention(embed_dim, num_heads, dropout, bias, is_causal))
        self.batch_first = batch_first

    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                need_weights: bool = False):
        if (key is not None and key is not query) or (value is not None and value is not query):
            raise NotImplementedError("MultiheadAttention: self-attention only (key and value are the query)")
        x = query if self.batch_first else query.transpose(0, 1)
        y = self._layer.forward(x, self.training)
        return (y if self.batch_first else y.transpose(0, 1)), None


class TransformerEncoderLayer(_Compiled):
    """A transformer encoder layer (self-attention and feed-forward), over ``[N, T, E]``
    with ``batch_first=True`` (else ``[T, N, E]``)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, is_causal: bool = False) -> None:
        super().__init__(_nabla.new_transformer_encoder(d_model, nhead, 0, dim_feedforward, dropout,
                                                        activation, layer_norm_eps, norm_first,
                                                        bias, is_causal, False))
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        x = x if self.batch_first else x.transpose(0, 1)
        y = self._layer.forward(x, self.training)
        return y if self.batch_first else y.transpose(0, 1)


class TransformerEncoder(_Compiled):
    """``num_layers`` encoder layers built alike (``final_norm`` adds a last layer norm)."""

    def __init__(self, d_model: int, nhead: int, num_layers: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 is_causal: bool = False, final_norm: bool = False) -> None:
        super().__init__(_nabla.new_transformer_encoder(d_model, nhead, num_layers, dim_feedforward,
                                                        dropout, activation, layer_norm_eps,
                                                        norm_first, bias, is_causal, final_norm))
        self.batch_first = batch_first

    forward = TransformerEncoderLayer.forward


class _Fn(Module):
    def __init__(self, f, *args: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_f", f)
        object.__setattr__(self, "_args", args)

    def forward(self, x: Tensor) -> Tensor:
        return self._f(x, *self._args)


class ReLU(_Fn):
    def __init__(self) -> None:
        super().__init__(Tensor.relu)


class LeakyReLU(_Fn):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__(Tensor.leaky_relu, negative_slope)


class Sigmoid(_Fn):
    def __init__(self) -> None:
        super().__init__(Tensor.sigmoid)


class Tanh(_Fn):
    def __init__(self) -> None:
        super().__init__(Tensor.tanh)


class GELU(_Fn):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__(functional.gelu, approximate)


class SiLU(_Fn):
    def __init__(self) -> None:
        super().__init__(Tensor.silu)


class Softmax(_Fn):
    def __init__(self, dim: int = -1) -> None:
        super().__init__(Tensor.softmax, dim)


class LogSoftmax(_Fn):
    def __init__(self, dim: int = -1) -> None:
        super().__init__(Tensor.log_softmax, dim)


class Flatten(_Fn):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__(Tensor.flatten, start_dim, end_dim)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class _Container(Module):
    """Modules held in order under the names ``0``, ``1``, ..."""

    def append(self, m: Module) -> "_Container":
        if not isinstance(m, Module):
            raise TypeError(f"item {len(self._modules)} is a {type(m).__name__}, not a Module")
        setattr(self, str(len(self._modules)), m)
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_Container):
    """Modules applied in order; named ``0``, ``1``, ... in the state dict, as PyTorch's. A
    module returning a tuple (a recurrent layer) passes on its first element."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for n, m in modules[0].items():
                setattr(self, n, m)
        else:
            for m in modules:
                self.append(m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


class ModuleList(_Container):
    """A list of modules whose parameters the parent sees."""

    def __init__(self, modules: Optional[List[Module]] = None) -> None:
        super().__init__()
        for m in modules or []:
            self.append(m)


class _Loss(Module):
    def __init__(self, f, **kw: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_f", f)
        object.__setattr__(self, "_kw", kw)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._f(input, target, **self._kw)


class CrossEntropyLoss(_Loss):
    def __init__(self, reduction: str = "mean", ignore_index: int = -100, label_smoothing: float = 0.0) -> None:
        super().__init__(functional.cross_entropy, reduction=reduction, ignore_index=ignore_index,
                         label_smoothing=label_smoothing)


class NLLLoss(_Loss):
    def __init__(self, reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__(functional.nll_loss, reduction=reduction, ignore_index=ignore_index)


class MSELoss(_Loss):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(functional.mse_loss, reduction=reduction)


class L1Loss(_Loss):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(functional.l1_loss, reduction=reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(functional.binary_cross_entropy_with_logits, reduction=reduction)
