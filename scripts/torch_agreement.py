"""Compare ``VAE.loss_and_grads`` with PyTorch autograd on the same weights, data and noise, in float64.

An outside check of the hand-written gradients (PyTorch is a peer here, never a dependency): for each
objective, the loss and every parameter's gradient from purevae's step against ``torch.autograd`` on the
same formula written with torch operations. Prints the absolute loss difference and the largest
relative gradient difference max |g_ours - g_torch| / max |g_torch| over the parameters.

    pip install torch==2.13.0          # the CPU build
    python scripts/torch_agreement.py
"""
from __future__ import annotations

import math
import sys

import numpy as np

import purevae
from purevae.data import load_bundled, scale_pixels

try:
    import torch
except ImportError:
    sys.exit("torch is not installed: pip install torch==2.13.0 (the CPU build)")

N_INPUT, HIDDEN, N_LATENT, BATCH = 784, 400, 20, 32
CASES = [("elbo", 1), ("elbo", 5), ("iwae", 1), ("iwae", 5), ("iwae", 50)]


def torch_loss(params: dict, x: "torch.Tensor", eps: "torch.Tensor", objective: str) -> "torch.Tensor":
    """The negative ELBO (closed-form KL, mean over the k samples) or the negative IWAE bound, batch mean."""
    k, batch, _ = eps.shape
    h = torch.relu(x @ params["encoder.0.weight"] + params["encoder.0.bias"])
    mu_logvar = h @ params["encoder.out.weight"] + params["encoder.out.bias"]
    mu, logvar = mu_logvar[:, :N_LATENT], mu_logvar[:, N_LATENT:]
    z = mu + torch.exp(0.5 * logvar) * eps                                             # (k, B, L)
    g = torch.relu(z.reshape(k * batch, N_LATENT) @ params["decoder.0.weight"] + params["decoder.0.bias"])
    logits = (g @ params["decoder.out.weight"] + params["decoder.out.bias"]).reshape(k, batch, N_INPUT)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand(k, batch, N_INPUT), reduction="none").sum(-1)                # (k, B)
    if objective == "elbo":
        kl = 0.5 * torch.sum(mu * mu + torch.exp(logvar) - logvar - 1, dim=-1)         # (B,)
        return torch.mean(-log_px.mean(0) + kl)
    log_w = log_px + 0.5 * torch.sum(logvar + eps * eps - z * z, dim=-1)             # the log 2 pi cancel
    return torch.mean(math.log(k) - torch.logsumexp(log_w, dim=0))


def main() -> int:
    x = scale_pixels(load_bundled().x_train[:BATCH]).astype(np.float64)
    model = purevae.VAE(N_INPUT, (HIDDEN,), N_LATENT, dtype="float64", seed=0)
    print(f"torch {torch.__version__}, purevae {purevae.__version__} ({purevae.get_backend()} backend); "
          f"{N_INPUT}-{HIDDEN}-{N_LATENT} ReLU, Bernoulli, batch {BATCH} of bundled Fashion-MNIST, float64")
    worst = 0.0
    for objective, k in CASES:
        eps = np.random.default_rng(k).standard_normal((k, BATCH, N_LATENT))
        loss, grads = model.loss_and_grads(x, eps, objective=objective)
        params = {name: torch.tensor(value, requires_grad=True) for name, value in model.params.items()}
        t_loss = torch_loss(params, torch.tensor(x), torch.tensor(eps), objective)
        t_loss.backward()
        rel = max(float(np.max(np.abs(grads[n] - p.grad.numpy())) / np.max(np.abs(p.grad.numpy())))
                  for n, p in params.items())
        worst = max(worst, rel)
        print(f"  {objective:4s} k={k:<3d} loss {loss:.10f}  |loss - torch| {abs(loss - t_loss.item()):.1e}  "
              f"max relative gradient difference {rel:.1e}")
    print(f"worst relative gradient difference: {worst:.1e}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
