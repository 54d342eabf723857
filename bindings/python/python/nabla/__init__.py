"""nabla from Python: tensors with autograd (NumPy in and out), PyTorch-shaped layers,
losses and optimizers, checkpoints in the CLI's layout, and whole runs from TOML configs.

    import numpy as np, nabla as nb
    x = nb.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
    x.grad.numpy()          # array([[2., 4.]], dtype=float32)
"""
from __future__ import annotations

import contextlib
import json as _json
import os as _os
from typing import Any, Dict, Iterable, Optional

import numpy as _np

from . import _nabla
from ._nabla import Tensor, manual_seed, is_grad_enabled, cat, stack

__all__ = [
    "Tensor", "tensor", "from_numpy", "zeros", "ones", "full", "randn", "rand", "arange",
    "cat", "stack", "where", "no_grad", "is_grad_enabled", "manual_seed", "save", "load",
    "gradcheck", "GradcheckError", "Experiment", "nn", "optim",
    "float32", "float64", "int64",
]

float32 = "float32"
float64 = "float64"
int64 = "int64"
_SUPPORTED = ("float32", "float64", "int64")


def _dtype_name(dtype: Any) -> Optional[str]:
    if dtype is None:
        return None
    name = _np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _SUPPORTED:
        raise TypeError(f"dtype {name}: nabla tensors are float32, float64 or int64")
    return name


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor from a NumPy array, a nested list or a number (always a copy).

    Python floats give float32 and Python ints int64, as in PyTorch; a NumPy array keeps its
    dtype (float32, float64 or int64; other dtypes raise TypeError). ``requires_grad=True``
    makes a leaf whose ``.grad`` ``backward()`` fills.
    """
    if isinstance(data, Tensor):
        data = data.numpy()
    want = _dtype_name(dtype)
    if isinstance(data, _np.ndarray):
        arr = data
    else:
        arr = _np.asarray(data)
        if want is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(_np.float32)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(_np.int64)
            elif arr.dtype.kind == "b":
                raise TypeError("bool data: nabla tensors are float32, float64 or int64")
    if want is not None and arr.dtype.name != want:
        arr = arr.astype(want)
    return Tensor._from_numpy(arr, requires_grad)


def from_numpy(array: _np.ndarray) -> Tensor:
    """A tensor with a copy of ``array``'s values (float32, float64 or int64, any rank and
    strides: transposed or sliced arrays are read in their logical order).

    Unlike ``torch.from_numpy``, this copies: nabla tensors own their memory, so changing the
    array later does not change the tensor.
    """
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy takes a numpy.ndarray, got {type(array).__name__}")
    return Tensor._from_numpy(array, False)


def _shape(shape: tuple) -> list:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return list(shape[0])
    return list(shape)


def zeros(*shape: int, dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    t = _nabla.full(_shape(shape), 0.0, _dtype_name(dtype))
    return t.requires_grad_() if requires_grad else t


def ones(*shape: int, dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    t = _nabla.full(_shape(shape), 1.0, _dtype_name(dtype))
    return t.requires_grad_() if requires_grad else t


def full(shape: Iterable[int], value: float, dtype: str = "float32") -> Tensor:
    """A tensor of ``shape`` filled with ``value``."""
    return _nabla.full(list(shape), float(value), _dtype_name(dtype))


def randn(*shape: int, dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global stream (see ``manual_seed``)."""
    t = _nabla.randn(_shape(shape), _dtype_name(dtype))
    return t.requires_grad_() if requires_grad else t


def rand(*shape: int, dtype: str = "float32", requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the global stream."""
    t = _nabla.rand(_shape(shape), _dtype_name(dtype))
    return t.requires_grad_() if requires_grad else t


def arange(start: float, end: Optional[float] = None, step: float = 1.0, dtype: Any = None) -> Tensor:
    """``start, start + step, ...`` below ``end`` (int64 unless a float is given)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, end, step)) else "float32"
    return _nabla.arange(float(start), float(end), float(step), _dtype_name(dtype))


def where(condition: Tensor, input: Tensor, other: Tensor) -> Tensor:
    """``input`` where ``condition`` is nonzero, else ``other``."""
    return _nabla.where(condition, input, other)


class no_grad(contextlib.ContextDecorator):
    """Within it (or a function it decorates), ops record nothing for backward."""

    def __enter__(self) -> "no_grad":
        _nabla._enter_no_grad()
        return self

    def __exit__(self, *exc: Any) -> None:
        _nabla._exit_no_grad()


def save(obj: Dict[str, Tensor], path: "str | os.PathLike[str]") -> None:
    """Writes a state dict (name -> Tensor) as a safetensors file, the layout of a
    ``nabla train`` checkpoint's ``model.safetensors`` (Rust's ``load_model`` reads it)."""
    if not isinstance(obj, dict):
        raise TypeError("save takes a state dict: {name: Tensor}")
    items = []
    for k, v in obj.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"save: {k} is a {type(v).__name__}, not a Tensor")
        items.append((str(k), v))
    _nabla.save(items, _os.fspath(path))


def load(path: "str | os.PathLike[str]") -> Dict[str, Tensor]:
    """Reads a safetensors file, or a checkpoint folder's ``model.safetensors`` (a ``nabla
    train`` run's ``checkpoints/ckpt-N``), as a state dict for ``load_state_dict``."""
    return dict(_nabla.load(_os.fspath(path)))


class GradcheckError(RuntimeError):
    """Backpropagation disagrees with finite differences."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Checks the gradients ``backward()`` gives for ``fn(*inputs)`` against central finite
    differences, in float64, for every input that requires grad (as ``torch.autograd.
    gradcheck``, projected on a random output direction: ``v · J`` for each input element).
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != "float64":
            raise ValueError("gradcheck needs float64 inputs (use .double())")
    values = [t.numpy() if isinstance(t, Tensor) else t for t in inputs]

    def leaves(arrays, grad_index=None):
        out = []
        for i, (t, a) in enumerate(zip(inputs, arrays)):
            if isinstance(t, Tensor):
                out.append(tensor(a, requires_grad=t.requires_grad and (grad_index is None or grad_index == i)))
            else:
                out.append(a)
        return out

    first = fn(*leaves(values))
    rng = _np.random.default_rng(0)
    v = rng.standard_normal(first.shape)
    vt = tensor(v)
    args = leaves(values)
    (fn(*args) * vt).sum().backward()
    ok = True
    for i, (t, a) in enumerate(zip(inputs, values)):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = args[i].grad.numpy() if args[i].grad is not None else _np.zeros_like(a)
        numeric = _np.zeros_like(a)
        flat = a.reshape(-1)
        for k in range(flat.size):
            plus, minus = [x.copy() for x in values], [x.copy() for x in values]
            plus[i].reshape(-1)[k] += eps
            minus[i].reshape(-1)[k] -= eps
            with no_grad():
                fp = (fn(*leaves(plus, -1)).numpy() * v).sum()
                fm = (fn(*leaves(minus, -1)).numpy() * v).sum()
            numeric.reshape(-1)[k] = (fp - fm) / (2 * eps)
        if not _np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            ok = False
            if raise_exception:
                worst = _np.abs(analytic - numeric).max()
                raise GradcheckError(
                    f"input {i}: backward gives {analytic.ravel()[:6]}..., finite differences "
                    f"{numeric.ravel()[:6]}... (largest difference {worst:.3g})")
    return ok


class Experiment:
    """A run described by a TOML config, trained as ``nabla train CONFIG`` trains it (the
    same bits for the same config and seed), with its progress bar.

        result = nabla.Experiment.from_toml("configs/digits-mlp.toml").fit()
        result["test_accuracy"]
    """

    def __init__(self, path, out_dir=None, data=None, epochs=None, seed=None, progress=True):
        self._inner = _nabla._Experiment(
            _os.fspath(path),
            None if out_dir is None else _os.fspath(out_dir),
            None if data is None else _os.fspath(data),
            epochs, seed, progress)
        self.run_dir: Optional[str] = None

    @classmethod
    def from_toml(cls, path, **kwargs) -> "Experiment":
        """The experiment of a config file; ``out_dir``, ``data``, ``epochs``, ``seed`` and
        ``progress`` override the config as the CLI's options do."""
        return cls(path, **kwargs)

    def fit(self) -> Dict[str, Any]:
        """Trains (Ctrl-C stops at the end of the current step and raises
        KeyboardInterrupt; the run can be resumed with ``nabla train --resume``). Returns the
        run's ``summary.json`` as a dict, with ``run_dir`` added."""
        run_dir, summary = self._inner.fit()
        self.run_dir = run_dir
        out = _json.loads(summary)
        if isinstance(out, dict):
            out["run_dir"] = run_dir
        return out


from . import nn, optim  # noqa: E402
