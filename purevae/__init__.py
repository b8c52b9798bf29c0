r"""A Variational Autoencoder written from scratch in NumPy, with Cython twins of its hot loops.

A whole run on a slice of the bundled Fashion-MNIST subset (a second or so): load, scale to [0, 1], build,
train one epoch, then the loss and gradients of one batch.

>>> import purevae
>>> from purevae.data import load_bundled, scale_pixels
>>> data = load_bundled()                            # 10,000 + 2,000 images, uint8 pixels 0..255
>>> x_train = scale_pixels(data.x_train[:512])       # float32 intensities in [0, 1]
>>> x_test = scale_pixels(data.x_test[:256])
>>> x_train.shape, x_train.dtype
((512, 784), dtype('float32'))
>>> m = purevae.VAE(n_input=784, hidden=(64,), n_latent=8, likelihood="bernoulli", seed=0)
>>> history = m.fit(x_train, epochs=1, batch_size=128, lr=1e-3, validation_data=x_test)
>>> history["epoch"], len(history["loss"]), len(history["val_loss"])
([1], 1, 1)
>>> loss, grads = m.loss_and_grads(x_train[:32])     # mean negative ELBO (nats per example), gradients
>>> type(loss), f"{loss:.1f}"
(<class 'float'>, '53...')
>>> grads["encoder.0.weight"].shape, grads["encoder.0.weight"].dtype
((784, 64), dtype('float32'))

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
