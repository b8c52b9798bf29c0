r"""KL weight schedules: beta as a pure function of the training step, for ``fit(beta_schedule=...)``.

A schedule is any callable ``schedule(step, epoch) -> beta`` with ``step`` the number of optimizer steps
the model has taken before this one (0, 1, 2, ... counted over every ``fit`` call, ``model.steps_trained``)
and ``epoch`` the number of epochs completed before this one (``model.epochs_trained``). Because it is a
pure function of the two counters, which checkpoints save, a run resumed from a checkpoint gets the
same beta at every step as a run that never stopped.

Built-ins (each a small frozen dataclass, so it prints what it is):

``constant(beta)``                           beta at every step
``linear(warmup_steps, beta)``               beta * min(1, (step + 1) / warmup_steps): a ramp per *step*
``per_epoch_linear(warmup_epochs, beta)``    beta * min(1, (epoch + 1) / warmup_epochs): what ``fit``'s
                                             ``warmup_epochs`` means (Bowman et al. 2016)
``cyclical(n_cycles, ratio, total_steps, beta)``
    Fu et al. (2019), "Cyclical annealing schedule": the ``total_steps`` are split into ``n_cycles`` equal
    cycles of length C = total_steps / n_cycles; at position tau = (step mod C) / C in its cycle,
    beta_t = beta * min(1, tau / ratio): a linear rise over the first ``ratio`` of every cycle, then beta
    for the rest. After ``total_steps`` the schedule stays at beta.

``make_schedule(name, beta=1.0, **params)`` builds one by name (``SCHEDULES``), as the CLI does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .validation import choice, finite_float, nonnegative_int, positive_int

__all__ = ["SCHEDULES", "constant", "linear", "per_epoch_linear", "cyclical", "make_schedule", "check_beta"]

SCHEDULES = ("constant", "linear", "cyclical")


def check_beta(value: object, step: int) -> float:
    """A schedule's output as a float; ValueError naming the step when it is negative or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"beta_schedule returned {value!r} ({type(value).__name__}) at step {step}; "
                        f"it must return a number")
    beta = float(value)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta_schedule returned beta = {beta} at step {step}; it must be a finite number >= 0")
    return beta


@dataclass(frozen=True)
class constant:
    """beta at every step."""

    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        return self.beta


@dataclass(frozen=True)
class linear:
    """beta * min(1, (step + 1) / warmup_steps): a linear KL warm-up counted in optimizer steps."""

    warmup_steps: int
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "warmup_steps", positive_int("warmup_steps", self.warmup_steps))
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        return self.beta * min(1.0, (step + 1) / self.warmup_steps)


@dataclass(frozen=True)
class per_epoch_linear:
    """beta * min(1, (epoch + 1) / warmup_epochs), constant within an epoch; 0 warm-up epochs: beta."""

    warmup_epochs: int
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "warmup_epochs", nonnegative_int("warmup_epochs", self.warmup_epochs))
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        if self.warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, (epoch + 1) / self.warmup_epochs)


@dataclass(frozen=True)
class cyclical:
    """Fu et al. (2019): n_cycles linear ramps over total_steps, each rising over the first ``ratio`` of its cycle."""

    n_cycles: int
    ratio: float
    total_steps: int
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "n_cycles", positive_int("n_cycles", self.n_cycles))
        ratio = finite_float("ratio", self.ratio, 0.0, strict=True)
        if ratio > 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "total_steps", positive_int("total_steps", self.total_steps))
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        if step >= self.total_steps:
            return self.beta
        cycle = self.total_steps / self.n_cycles
        tau = (step % cycle) / cycle                     # position in the cycle, in [0, 1)
        return self.beta * min(1.0, tau / self.ratio)


def make_schedule(name: str, beta: float = 1.0, **params: Any) -> Callable[[int, int], float]:
    """``make_schedule("cyclical", beta=1, n_cycles=4, ratio=0.5, total_steps=1000)``; names: ``SCHEDULES``."""
    name = choice("beta_schedule", name, SCHEDULES)
    if name == "constant":
        return constant(beta, **params)
    if name == "linear":
        return linear(beta=beta, **params)
    return cyclical(beta=beta, **params)
