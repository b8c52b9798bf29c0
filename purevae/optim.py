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
    """Base class: ``step(params, grads)`` updates ``params`` in place.

    Parameters
    ----------
    lr : float
        The learning rate, a finite number > 0.

    Raises
    ------
    TypeError
        When ``lr`` is not a real number (a string, a bool, None).
    ValueError
        When ``lr`` is not finite or not > 0.
    """

    name = "optimizer"
    #: the state's kinds: after the first step, ``state_arrays`` holds ``<kind>/<param>`` for every parameter
    STATES: tuple[str, ...] = ()

    def __init__(self, lr: float):
        self.lr = _positive("lr", lr)
        self.t = 0  # number of steps taken

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every array of ``params`` in place by one step of the rule; a subclass defines it.

        Parameters
        ----------
        params : dict of str to numpy.ndarray
            The parameters, name -> C-contiguous array, updated in place.
        grads : dict of str to numpy.ndarray
            The gradient d loss / d param for every name of ``params``, of its parameter's shape and dtype.

        Raises
        ------
        NotImplementedError
            Always, in this base class.
        """
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Return the optimizer's state as named arrays (for checkpoints); a subclass defines it.

        Returns
        -------
        dict of str to numpy.ndarray
            ``<kind>/<param>`` -> array, for the kinds of ``STATES``.

        Raises
        ------
        NotImplementedError
            Always, in this base class.
        """
        raise NotImplementedError

    def config(self) -> dict:
        """Return the optimizer's name and settings as a JSON-able dict; a subclass defines it.

        Returns
        -------
        dict
            ``"optimizer"`` (the name) and the constructor's arguments.

        Raises
        ------
        NotImplementedError
            Always, in this base class.
        """
        raise NotImplementedError


def _positive(name: str, value: float) -> float:
    return finite_float(name, value, 0.0, strict=True)


class Adam(Optimizer):
    r"""Adam with bias correction (Kingma & Ba 2015), PyTorch's defaults.

    For each parameter array, with gradient g and t the number of the step::

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    On the Cython backend the update of one array is a single pass, and m and v are flushed to 0 below
    the smallest normal float (see ``ops.adam_update``), so the step does not slow down once the
    moments of unused weights decay.

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate, a finite number > 0.
    beta1 : float, default 0.9
        Decay rate of the first moment m, in [0, 1).
    beta2 : float, default 0.999
        Decay rate of the second moment v, in [0, 1).
    eps : float, default 1e-8
        Added to sqrt(v / (1 - beta2^t)) in the denominator, a finite number > 0.

    Raises
    ------
    TypeError
        When an argument is not a real number (a string, a bool, None).
    ValueError
        When ``lr`` or ``eps`` is not finite or not > 0, or ``beta1`` or ``beta2`` is not in [0, 1).
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
        """Update every array of ``params`` in place by one Adam step, one kernel call per array.

        The step count ``t`` rises by one; a parameter's m and v start as zeros of its shape and dtype on
        its first step. The kernel (``backend.kernels().adam_update``) works on ``reshape(-1)`` views, so
        every array must be C-contiguous, as the model's are. Derivation: docs/derivations.md#adam.

        Parameters
        ----------
        params : dict of str to numpy.ndarray
            The parameters, name -> C-contiguous array, updated in place.
        grads : dict of str to numpy.ndarray
            The gradient d loss / d param for every name of ``params``, of its parameter's shape and dtype.
        """
        kern = backend.kernels()
        self.t += 1
        for name, param in params.items():
            if name not in self.m:
                self.m[name], self.v[name] = np.zeros_like(param), np.zeros_like(param)
            # every array is C-contiguous, so reshape(-1) is a view and the kernel updates it in place
            kern.adam_update(param.reshape(-1), grads[name].reshape(-1), self.m[name].reshape(-1),
                             self.v[name].reshape(-1), self.lr, self.beta1, self.beta2, self.eps, self.t)

    def state_arrays(self):
        """Return the moments as named arrays (for checkpoints): ``m/<param>`` and ``v/<param>``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``m/<param>`` then ``v/<param>`` -> the optimizer's own arrays (not copies), for every parameter
            stepped so far; empty before the first step.
        """
        out = {f"m/{k}": a for k, a in self.m.items()}
        out.update({f"v/{k}": a for k, a in self.v.items()})
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], t: int) -> None:
        """Replace the moments and the step count with a checkpoint's (the inverse of ``state_arrays``).

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray
            ``m/<param>`` and ``v/<param>`` -> array, copied; entries with another prefix are ignored, and
            nothing is checked against the parameters.
        t : int
            The number of steps taken, for the bias correction of the next one.
        """
        self.m = {k[2:]: np.array(a) for k, a in arrays.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(a) for k, a in arrays.items() if k.startswith("v/")}
        self.t = int(t)

    def config(self):
        """Return the optimizer's name and settings as a JSON-able dict.

        Returns
        -------
        dict
            ``{"optimizer": "adam", "lr": ..., "beta1": ..., "beta2": ..., "eps": ...}``.
        """
        return {"optimizer": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, PyTorch's convention.

    For each parameter array, with gradient g (the velocity starts at 0)::

        velocity = momentum * velocity + g;   param -= lr * velocity

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate, a finite number > 0.
    momentum : float, default 0.9
        The momentum, in [0, 1) (0: plain gradient descent).

    Raises
    ------
    TypeError
        When an argument is not a real number (a string, a bool, None).
    ValueError
        When ``lr`` is not finite or not > 0, or ``momentum`` is not in [0, 1).
    """

    name = "sgd"
    STATES = ("velocity",)

    def __init__(self, lr: float = 1e-2, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = fraction("momentum", momentum)
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params, grads):
        """Update every array of ``params`` in place by one step of SGD with momentum, one kernel call per array.

        The step count ``t`` rises by one; a parameter's velocity starts as zeros of its shape and dtype on
        its first step. The kernel (``backend.kernels().sgd_momentum_update``) works on ``reshape(-1)``
        views, so every array must be C-contiguous, as the model's are. Derivation:
        docs/derivations.md#adam (its last part, SGD with momentum).

        Parameters
        ----------
        params : dict of str to numpy.ndarray
            The parameters, name -> C-contiguous array, updated in place.
        grads : dict of str to numpy.ndarray
            The gradient d loss / d param for every name of ``params``, of its parameter's shape and dtype.
        """
        kern = backend.kernels()
        self.t += 1
        for name, param in params.items():
            if name not in self.velocity:
                self.velocity[name] = np.zeros_like(param)
            kern.sgd_momentum_update(param.reshape(-1), grads[name].reshape(-1), self.velocity[name].reshape(-1),
                                     self.lr, self.momentum)

    def state_arrays(self):
        """Return the velocities as named arrays (for checkpoints): ``velocity/<param>``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``velocity/<param>`` -> the optimizer's own array (not a copy), for every parameter stepped so
            far; empty before the first step.
        """
        return {f"velocity/{k}": a for k, a in self.velocity.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], t: int) -> None:
        """Replace the velocities and the step count with a checkpoint's (the inverse of ``state_arrays``).

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray
            ``velocity/<param>`` -> array, copied; entries with another prefix are ignored, and nothing is
            checked against the parameters.
        t : int
            The number of steps taken.
        """
        self.velocity = {k[len("velocity/"):]: np.array(a) for k, a in arrays.items() if k.startswith("velocity/")}
        self.t = int(t)

    def config(self):
        """Return the optimizer's name and settings as a JSON-able dict.

        Returns
        -------
        dict
            ``{"optimizer": "sgd", "lr": ..., "momentum": ...}``.
        """
        return {"optimizer": "sgd", "lr": self.lr, "momentum": self.momentum}


OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "sgd": SGD}


def make_optimizer(name: str, lr: float, **kwargs) -> Optimizer:
    """Build an optimizer from its name, learning rate and other settings.

    Parameters
    ----------
    name : {"adam", "sgd"}
        The optimizer (a key of ``OPTIMIZERS``).
    lr : float
        The learning rate, a finite number > 0.
    **kwargs
        The optimizer's other arguments: ``beta1``, ``beta2``, ``eps`` for Adam, ``momentum`` for SGD.

    Returns
    -------
    Optimizer
        A new ``Adam`` or ``SGD``, with no state (``t`` = 0).

    Raises
    ------
    TypeError
        When ``name`` is not a string, an argument is not a real number, or ``kwargs`` holds an argument
        the optimizer does not take.
    ValueError
        When ``name`` is not one of the optimizers, or a value is out of its range.

    Examples
    --------
    >>> from purevae.optim import make_optimizer
    >>> make_optimizer("adam", 1e-3).config()
    {'optimizer': 'adam', 'lr': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-08}
    >>> make_optimizer("sgd", 1e-2, momentum=0.5).config()
    {'optimizer': 'sgd', 'lr': 0.01, 'momentum': 0.5}
    """
    return OPTIMIZERS[choice("optimizer", name, tuple(OPTIMIZERS))](lr=lr, **kwargs)
