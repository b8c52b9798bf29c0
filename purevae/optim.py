r"""Optimizers over the parameter dict (name -> ndarray), updating each array in place.

Both keep their state in dicts with the parameter names, so checkpoints can save it as arrays.
The update of one array is one kernel call (``adam_update`` / ``sgd_momentum_update``), Cython or NumPy
as the backend says; derivation in docs/derivations.md#adam.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .validation import choice, finite_float, fraction


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place."""

    name = "optimizer"
    #: the state's kinds: after the first step, ``state_arrays`` holds ``<kind>/<param>`` for every parameter
    STATES: tuple[str, ...] = ()

    def __init__(self, lr: float):
        self.lr = _positive("lr", lr)
        self.t = 0  # number of steps taken

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The optimizer's state as named arrays (for checkpoints)."""
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError


def _positive(name: str, value: float) -> float:
    return finite_float(name, value, 0.0, strict=True)


class Adam(Optimizer):
    r"""Adam with bias correction (Kingma & Ba 2015), PyTorch's defaults.

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    On the Cython backend the update of one array is a single pass, and m and v are flushed to 0 below
    the smallest normal float (see ``ops.adam_update``), so the step does not slow down once the
    moments of unused weights decay.
    """

    name = "adam"
    STATES = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2 = fraction("beta1", beta1), fraction("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params, grads):
        kern = backend.kernels()
        self.t += 1
        for name, param in params.items():
            if name not in self.m:
                self.m[name], self.v[name] = np.zeros_like(param), np.zeros_like(param)
            # every array is C-contiguous, so reshape(-1) is a view and the kernel updates it in place
            kern.adam_update(param.reshape(-1), grads[name].reshape(-1), self.m[name].reshape(-1),
                             self.v[name].reshape(-1), self.lr, self.beta1, self.beta2, self.eps, self.t)

    def state_arrays(self):
        out = {f"m/{k}": a for k, a in self.m.items()}
        out.update({f"v/{k}": a for k, a in self.v.items()})
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], t: int) -> None:
        self.m = {k[2:]: np.array(a) for k, a in arrays.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(a) for k, a in arrays.items() if k.startswith("v/")}
        self.t = int(t)

    def config(self):
        return {"optimizer": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, PyTorch's convention.

        velocity = momentum * velocity + g;   param -= lr * velocity
    """

    name = "sgd"
    STATES = ("velocity",)

    def __init__(self, lr: float = 1e-2, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = fraction("momentum", momentum)
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params, grads):
        kern = backend.kernels()
        self.t += 1
        for name, param in params.items():
            if name not in self.velocity:
                self.velocity[name] = np.zeros_like(param)
            kern.sgd_momentum_update(param.reshape(-1), grads[name].reshape(-1), self.velocity[name].reshape(-1),
                                     self.lr, self.momentum)

    def state_arrays(self):
        return {f"velocity/{k}": a for k, a in self.velocity.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], t: int) -> None:
        self.velocity = {k[len("velocity/"):]: np.array(a) for k, a in arrays.items() if k.startswith("velocity/")}
        self.t = int(t)

    def config(self):
        return {"optimizer": "sgd", "lr": self.lr, "momentum": self.momentum}


OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "sgd": SGD}


def make_optimizer(name: str, lr: float, **kwargs) -> Optimizer:
    """``make_optimizer("adam", 1e-3)`` or ``make_optimizer("sgd", 1e-2, momentum=0.9)``."""
    return OPTIMIZERS[choice("optimizer", name, tuple(OPTIMIZERS))](lr=lr, **kwargs)
