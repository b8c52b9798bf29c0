r"""KL weight schedules: beta as a pure function of the training step, for ``fit(beta_schedule=...)``.

A schedule is any callable ``schedule(step, epoch) -> beta`` with ``step`` the number of optimizer steps
the model has taken before this one (0, 1, 2, ... counted over every ``fit`` call, ``model.steps_trained``)
and ``epoch`` the number of epochs completed before this one (``model.epochs_trained``). Because it is a
pure function of the two counters, which checkpoints save, a run resumed from a checkpoint gets the
same beta at every step as a run that never stopped.

Built-ins (each a small frozen dataclass, so it prints what it is):

================================================  =====================================================================
schedule                                          beta at a step
================================================  =====================================================================
``constant(beta)``                                beta at every step
``linear(warmup_steps, beta)``                    beta * min(1, (step + 1) / warmup_steps): a ramp per *step*
``per_epoch_linear(warmup_epochs, beta)``         beta * min(1, (epoch + 1) / warmup_epochs): what ``fit``'s
                                                  ``warmup_epochs`` means (Bowman et al. 2016)
``cyclical(n_cycles, ratio, total_steps, beta)``  Fu et al. (2019), "Cyclical annealing schedule": the ``total_steps``
                                                  are split into ``n_cycles`` equal cycles of length
                                                  C = total_steps / n_cycles; at position tau = (step mod C) / C in
                                                  its cycle, beta_t = beta * min(1, tau / ratio): a linear rise over
                                                  the first ``ratio`` of every cycle, then beta for the rest. After
                                                  ``total_steps`` the schedule stays at beta.
================================================  =====================================================================

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
    """Return a schedule's output as a float; ValueError naming the step when it is negative or not finite.

    ``fit`` calls it on the schedule's value before every step.

    Parameters
    ----------
    value : object
        What the schedule returned: a number (an int, a float, or an object with ``__float__``, such as a NumPy
        scalar; not a Python bool).
    step : int
        The step it was returned for, named in the error messages.

    Returns
    -------
    float
        ``float(value)``, finite and >= 0.

    Raises
    ------
    TypeError
        When value is a Python bool, or neither an int, a float nor an object with ``__float__``.
    ValueError
        When value is negative or not finite.

    Notes
    -----
    Derivation: docs/derivations.md#kl-schedules.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"beta_schedule returned {value!r} ({type(value).__name__}) at step {step}; "
                        f"it must return a number")
    beta = float(value)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta_schedule returned beta = {beta} at step {step}; it must be a finite number >= 0")
    return beta


@dataclass(frozen=True)
class constant:
    """Weight the KL term by the same beta at every step.

    An instance is the schedule: ``schedule(step, epoch)`` returns ``beta`` whatever the step and epoch.

    Parameters
    ----------
    beta : float, default 1.0
        The KL weight, finite and >= 0.

    Raises
    ------
    TypeError
        When beta is not a real number (a bool, a str).
    ValueError
        When beta is negative or not finite.
    """

    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        return self.beta


@dataclass(frozen=True)
class linear:
    """Ramp beta as beta * min(1, (step + 1) / warmup_steps): a linear KL warm-up counted in optimizer steps.

    An instance is the schedule: ``schedule(step, epoch)`` returns that float (the epoch is not used).

    Parameters
    ----------
    warmup_steps : int
        The number of steps over which the weight rises to beta, >= 1.
    beta : float, default 1.0
        The weight once warm-up is over, finite and >= 0.

    Raises
    ------
    TypeError
        When warmup_steps is not an int (a bool, a float), or beta is not a real number.
    ValueError
        When warmup_steps is < 1, or beta is negative or not finite.

    Examples
    --------
    >>> from purevae.schedules import linear
    >>> schedule = linear(warmup_steps=4, beta=1.0)
    >>> schedule
    linear(warmup_steps=4, beta=1.0)
    >>> [schedule(step, 0) for step in range(6)]
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]

    In ``fit``, the history records each epoch's mean beta (here 4 steps per epoch, 8 of warm-up):

    >>> from purevae import VAE
    >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
    >>> x = np.random.default_rng(0).random((64, 16))
    >>> history = model.fit(x, epochs=2, batch_size=16, beta_schedule=linear(warmup_steps=8))
    >>> history["beta"]
    [0.3125, 0.8125]
    """

    warmup_steps: int
    beta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "warmup_steps", positive_int("warmup_steps", self.warmup_steps))
        object.__setattr__(self, "beta", finite_float("beta", self.beta, 0.0))

    def __call__(self, step: int, epoch: int) -> float:
        return self.beta * min(1.0, (step + 1) / self.warmup_steps)


@dataclass(frozen=True)
class per_epoch_linear:
    """Ramp beta as beta * min(1, (epoch + 1) / warmup_epochs), constant within an epoch; 0 warm-up epochs: beta.

    An instance is the schedule: ``schedule(step, epoch)`` returns that float (the step is not used). It is
    what ``fit(beta=, warmup_epochs=)`` trains with.

    Parameters
    ----------
    warmup_epochs : int
        The number of epochs over which the weight rises to beta, >= 0 (0: beta from the start).
    beta : float, default 1.0
        The weight once warm-up is over, finite and >= 0.

    Raises
    ------
    TypeError
        When warmup_epochs is not an int (a bool, a float), or beta is not a real number.
    ValueError
        When warmup_epochs is negative, or beta is negative or not finite.
    """

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
    """Repeat n_cycles linear ramps over total_steps, each rising over the first ``ratio`` of its cycle.

    Fu et al. (2019), "Cyclical annealing schedule".

    An instance is the schedule: ``schedule(step, epoch)`` returns beta * min(1, tau / ratio), tau = (step mod C) / C
    the position in a cycle of C = total_steps / n_cycles steps, and beta from ``total_steps`` on (the epoch is
    not used).

    Parameters
    ----------
    n_cycles : int
        The number of cycles, >= 1.
    ratio : float
        The fraction of each cycle over which the weight rises, in (0, 1].
    total_steps : int
        The number of steps the cycles span, >= 1.
    beta : float, default 1.0
        The weight at the top of each ramp and after the cycles, finite and >= 0.

    Raises
    ------
    TypeError
        When n_cycles or total_steps is not an int (a bool, a float), or ratio or beta is not a real number.
    ValueError
        When n_cycles or total_steps is < 1, ratio is not in (0, 1], or beta is negative or not finite.

    Examples
    --------
    Two cycles of 4 steps, each rising over its first half, then beta from step 8 on:

    >>> from purevae.schedules import cyclical
    >>> schedule = cyclical(n_cycles=2, ratio=0.5, total_steps=8)
    >>> schedule
    cyclical(n_cycles=2, ratio=0.5, total_steps=8, beta=1.0)
    >>> [schedule(step, 0) for step in range(10)]
    [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    """

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
    """Build a schedule by name, as the CLI does.

    ``make_schedule("cyclical", beta=1, n_cycles=4, ratio=0.5, total_steps=1000)``; names: ``SCHEDULES``.

    Parameters
    ----------
    name : str
        One of ``SCHEDULES``: ``"constant"``, ``"linear"`` or ``"cyclical"``.
    beta : float, default 1.0
        The schedule's beta.
    **params
        The schedule's other arguments: none for ``"constant"``, ``warmup_steps`` for ``"linear"``, ``n_cycles``,
        ``ratio`` and ``total_steps`` for ``"cyclical"``.

    Returns
    -------
    callable
        The schedule, ``schedule(step, epoch) -> beta``: an instance of ``constant``, ``linear`` or ``cyclical``.

    Raises
    ------
    TypeError
        When name is not a str, an argument is missing or unknown, or one has the wrong type.
    ValueError
        When name is not one of ``SCHEDULES``, or an argument has a wrong value (as the schedule's class says).

    Examples
    --------
    >>> from purevae.schedules import make_schedule
    >>> schedule = make_schedule("cyclical", beta=1, n_cycles=4, ratio=0.5, total_steps=1000)
    >>> schedule
    cyclical(n_cycles=4, ratio=0.5, total_steps=1000, beta=1.0)
    >>> schedule(0, 0), schedule(25, 0), schedule(125, 0), schedule(1000, 3)
    (0.0, 0.2, 1.0, 1.0)
    """
    name = choice("beta_schedule", name, SCHEDULES)
    if name == "constant":
        return constant(beta, **params)
    if name == "linear":
        return linear(beta=beta, **params)
    return cyclical(beta=beta, **params)
