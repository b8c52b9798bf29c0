"""Code written as a user would, checked by mypy in CI (pyproject.toml's [tool.mypy] files), never run by pytest.

The lines with ``# type: ignore[code]`` are wrong calls that the annotations must reject: with
``warn_unused_ignores``, mypy fails if one of them stops being an error, so these lines test the annotations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import purevae
from purevae import data, diagnostics, objectives, schedules
from purevae.typing import ArraySource, FloatArray


def train_and_evaluate(folder: Path) -> float:
    x: FloatArray = np.random.default_rng(0).uniform(size=(64, 784)).astype(np.float32)
    model = purevae.VAE(784, hidden=(32,), n_latent=4, seed=1)
    history: dict[str, list] = model.fit(x, epochs=1, batch_size=16, validation_data=x[:8],
                                         beta_schedule=schedules.make_schedule("linear", warmup_steps=4))
    mu, logvar = model.encode(x)
    images: FloatArray = model.decode(mu)
    samples = model.sample(4, rng=np.random.SeedSequence(7))
    bound: FloatArray = model.elbo(x, k=2, rng=[1, 2])
    log_px = model.log_likelihood(x[:4], k=10, rng=np.random.PCG64(3))
    report = diagnostics.latent_report(model, x[:16])
    path: Path = model.save(folder / "model.npz")
    again = purevae.load(str(path))
    state = again.state_dict()
    rebuilt = purevae.VAE.from_state_dict(state, activation="relu")
    loss, grads = rebuilt.loss_and_grads(x[:8])
    ws: ArraySource = model.workspace(8)
    step = model.step(model.check_input(x[:8]), ws=ws)
    bundled = data.load_bundled()
    print(history, logvar, images, samples, log_px, report, grads, step.loss, bundled, objectives.OBJECTIVES)
    return float(np.mean(bound)) + loss


def wrong_calls(model: purevae.VAE, x: FloatArray) -> None:
    model.sample("four")                          # type: ignore[arg-type]
    model.fit(x, epochs="ten")                    # type: ignore[arg-type]
    model.save(42)                                # type: ignore[arg-type]
    mu: str = model.encode(x)[0]                  # type: ignore[assignment]
    model.step(x, ws=object())                    # type: ignore[arg-type]
    print(mu)
