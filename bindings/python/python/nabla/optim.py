"""Optimizers with PyTorch's names and defaults (SGD, Adam, AdamW, RMSprop, Adagrad) and
learning-rate schedules. ``step()`` reads each parameter's ``.grad``; ``zero_grad()`` clears
them. Values are checked as the CLI checks a config's ``train.optimizer``."""
from __future__ import annotations

import json
import math
from typing import Iterable, List, Sequence

from . import _nabla
from ._nabla import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]


class Optimizer:
    """The base of the optimizers: holds the parameters and the compiled optimizer."""

    def __init__(self, params: Iterable[Tensor], config: dict) -> None:
        self.params: List[Tensor] = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor")
        self.defaults = dict(config)
        self._inner = _nabla.Optimizer(json.dumps(config), self.params)
        self.param_groups = [{"params": self.params, **self.defaults}]

    def step(self) -> None:
        """One update from the parameters' ``.grad``."""
        self._inner.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad``."""
        self._inner.zero_grad()

    @property
    def lr(self) -> float:
        return self._inner.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._inner.lr = float(value)
        self.param_groups[0]["lr"] = float(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.defaults.items() if k != 'name')})"


class SGD(Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, dict(name="sgd", lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(name="adam", lr=lr, betas=list(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))


class AdamW(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, dict(name="adamw", lr=lr, betas=list(betas), eps=eps,
                                      weight_decay=weight_decay))


class RMSprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(name="rmsprop", lr=lr, alpha=alpha, eps=eps,
                                      weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))


class Adagrad(Optimizer):
    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(name="adagrad", lr=lr, lr_decay=lr_decay,
                                      weight_decay=weight_decay))


class _Scheduler:
    """Sets ``optimizer.lr`` from the count of ``step()`` calls (one per epoch, or per
    batch), as ``torch.optim.lr_scheduler``'s schedules do."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, n: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> List[float]:
        return [self.optimizer.lr]


class StepLR(_Scheduler):
    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, n: int) -> float:
        return self.base_lr * self.gamma ** (n // self.step_size)


class MultiStepLR(_Scheduler):
    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.milestones, self.gamma = sorted(milestones), gamma

    def lr_at(self, n: int) -> float:
        return self.base_lr * self.gamma ** sum(1 for m in self.milestones if n >= m)


class ExponentialLR(_Scheduler):
    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, n: int) -> float:
        return self.base_lr * self.gamma ** n


class CosineAnnealingLR(_Scheduler):
    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, n: int) -> float:
        n = min(n, self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * n / self.T_max)) / 2


class _LrScheduler:
    StepLR = StepLR
    MultiStepLR = MultiStepLR
    ExponentialLR = ExponentialLR
    CosineAnnealingLR = CosineAnnealingLR


lr_scheduler = _LrScheduler
