r"""purevae: a Variational Autoencoder written from scratch in NumPy, with Cython twins of its hot loops.

    >>> import purevae
    >>> m = purevae.VAE(n_input=784, hidden=(400,), n_latent=20, likelihood="bernoulli", seed=0)
    >>> history = m.fit(x_train, epochs=10, batch_size=128, lr=1e-3, validation_data=x_test)
    >>> loss, grads = m.loss_and_grads(x_batch)      # mean negative ELBO (nats per example), gradients

See README.md for the tour and docs/derivations.md for every gradient derived by hand.
"""
from .backend import cython_available, get_backend, set_backend
from .gradcheck import gradcheck
from .io import save
from .model import VAE, load
from .train import TrainingDiverged
from .validation import CastWarning
from .version import __version__

__all__ = ["VAE", "load", "save", "gradcheck", "set_backend", "get_backend", "cython_available", "CastWarning",
           "TrainingDiverged", "__version__"]
