"""One rule for argument errors (issue 9, item 4), walked over every public entry point and every scalar argument.

    wrong type  (a float where an int is needed, a string, a bool, None where it is not allowed)  -> TypeError
    wrong value (negative, zero, out of range, NaN or inf, not one of the choices)                -> ValueError

and the message names the argument. The cases are generated from two tables: ``KINDS`` says which bad values
a kind of argument gets (those of the first list must raise TypeError, those of the second ValueError), and
``ARGUMENTS`` lists, for each entry point of ``ENTRIES``, its scalar arguments with their kind (plus bad values
of that argument alone). Every call is made on a tiny model and tiny data, so the whole file takes seconds.

The second part checks that a ``CastWarning`` names the caller's line (issue 9, item 6), whatever the entry point.
"""
import inspect
import math
import re
import warnings

import numpy as np
import pytest

import purevae
from purevae import backend, cli, data, likelihoods, objectives, optim, plots, train
from purevae.validation import CastWarning

NAN, INF = float("nan"), float("inf")
X = np.linspace(0.05, 0.95, 16).reshape(4, 4)     # 4 examples of 4 features in [0, 1] (2 x 2 images)
Y = np.array([0, 1, 0, 1])


def tiny(**kwargs):
    return purevae.VAE(4, hidden=(3,), n_latent=2, seed=0, **kwargs)


def tiny_dataset():
    return data.from_arrays((X * 255).astype(np.uint8), x_test=(X[:2] * 255).astype(np.uint8), image_shape=(2, 2))


# ---------------------------------------------------------------------------------------------
# the bad values of each kind of argument: (wrong types -> TypeError, wrong values -> ValueError)
# ---------------------------------------------------------------------------------------------
KINDS = {
    "positive_int": ([2.5, "3", True, None], [0, -1]),
    "positive_int_or_none": ([2.5, "3", True], [0, -1]),
    "nonnegative_int": ([2.5, "3", True, None], [-1]),
    "seed": ([1.5, "3", True], [-1]),                     # None draws a seed
    "seed_not_none": ([1.5, "3", True, None], [-1]),
    "positive_float": (["0.1", True, None], [0.0, -1.0, NAN, INF]),
    "positive_float_or_none": (["0.1", True], [0.0, -1.0, NAN]),
    "nonnegative_float": (["1", True, None], [-1.0, NAN, INF]),
    "fraction": (["0.5", True, None], [1.0, -0.1, NAN]),   # in [0, 1)
    "boolean": ([1, "yes", None], []),
    "rng": (["abc", 1.5, True], [-1]),                    # Generator, int seed >= 0 or None
    "generator": ([3, "abc", None], []),                  # a numpy.random.Generator only
    "callable_or_none": ([3, "print"], []),
    "choice": ([3, True, None], []),                      # + the argument's own unknown name
    "choice_or_none": ([3, True], []),                    # None: the default (impl: the current backend)
    "choice_or_code": ([2.5, True, None], [17]),          # a name or an int code (ops.ACTIVATIONS)
    "float_dtype": ([3, True, None], ["float16", "int32", np.float16]),
    "widths": ([None, 2.5], []),                          # a sequence of positive ints (an int: one layer)
    "widths_or_none": ([2.5, "a"], []),
    "path": ([3, 2.5], []),
    "path_or_none": ([3, 2.5], []),
    "string": ([3, True, None], []),
    "str_or_none": ([3, True], []),
    "argv": ([3, "train"], []),
}


# ---------------------------------------------------------------------------------------------
# entry points: name -> (call(tmp_path, **kwargs), valid kwargs for every argument a case may change)
# ---------------------------------------------------------------------------------------------
ENTRIES = {
    "VAE": (lambda tmp, **kw: purevae.VAE(**kw), dict(n_input=4, hidden=(3,), n_latent=2)),
    "VAE(gaussian)": (lambda tmp, **kw: purevae.VAE(4, (3,), 2, likelihood="gaussian", **kw), {}),
    "VAE(leaky_relu)": (lambda tmp, **kw: purevae.VAE(4, (3,), 2, activation="leaky_relu", **kw), {}),
    "VAE(decoder_hidden)": (lambda tmp, **kw: purevae.VAE(4, (3,), 2, **kw), dict(decoder_hidden=(3,))),
    "VAE.fit": (lambda tmp, **kw: tiny().fit(X, **kw), dict(epochs=1, batch_size=2)),
    "VAE.fit(checkpoint)": (lambda tmp, **kw: tiny().fit(X, epochs=1, batch_size=2, checkpoint=tmp / "c.npz", **kw),
                            {}),
    "train.fit": (lambda tmp, **kw: train.fit(tiny(), X, **kw), dict(epochs=1, batch_size=2)),
    "VAE.loss_and_grads": (lambda tmp, **kw: tiny().loss_and_grads(X, **kw), {}),
    "VAE.elbo": (lambda tmp, **kw: tiny().elbo(X, **kw), {}),
    "VAE.log_likelihood": (lambda tmp, **kw: tiny().log_likelihood(X, **kw), dict(k=2, batch_size=2, max_rows=4)),
    "objectives.log_likelihood": (lambda tmp, **kw: objectives.log_likelihood(tiny(), X, **kw), dict(k=2)),
    "VAE.sample": (lambda tmp, **kw: tiny().sample(**kw), dict(n=2)),
    "VAE.astype": (lambda tmp, **kw: tiny().astype(**kw), {}),
    "VAE.save": (lambda tmp, **kw: tiny().save(**kw), {}),
    "purevae.save": (lambda tmp, **kw: purevae.save(tiny(), **kw), {}),
    "purevae.load": (lambda tmp, **kw: purevae.load(**kw), {}),
    "purevae.gradcheck": (lambda tmp, **kw: purevae.gradcheck(tiny(), X[:2], **kw), dict(max_entries=2)),
    "purevae.set_backend": (lambda tmp, **kw: purevae.set_backend(**kw), {}),
    "optim.Adam": (lambda tmp, **kw: optim.Adam(**kw), {}),
    "optim.SGD": (lambda tmp, **kw: optim.SGD(**kw), {}),
    "optim.make_optimizer": (lambda tmp, **kw: optim.make_optimizer(**kw), dict(name="adam", lr=1e-3)),
    "likelihoods.make_likelihood": (lambda tmp, **kw: likelihoods.make_likelihood(**kw),
                                    dict(likelihood="gaussian")),
    "likelihoods.Gaussian": (lambda tmp, **kw: likelihoods.Gaussian(**kw), {}),
    "objectives.warmup_beta": (lambda tmp, **kw: objectives.warmup_beta(**kw), dict(epoch=0, warmup_epochs=2)),
    "backend.kernels": (lambda tmp, **kw: backend.kernels(**kw), {}),
    "backend.bias_activation_forward": (
        lambda tmp, **kw: backend.bias_activation_forward(np.ones((2, 3)), np.ones(3), **kw),
        dict(activation="leaky_relu", alpha=0.1, impl="numpy")),
    "backend.activation_backward_bias": (
        lambda tmp, **kw: backend.activation_backward_bias(np.ones((2, 3)), np.ones((2, 3)), **kw),
        dict(activation="elu", alpha=1.0, impl="numpy")),
    "backend.bernoulli_nll_grad": (lambda tmp, **kw: backend.bernoulli_nll_grad(X, np.zeros((4, 4)), **kw),
                                   dict(scale=0.25, impl="numpy")),
    "backend.bernoulli_nll": (lambda tmp, **kw: backend.bernoulli_nll(X, np.zeros((4, 4)), **kw), dict(impl="numpy")),
    "backend.gaussian_nll": (lambda tmp, **kw: backend.gaussian_nll(X, np.zeros((4, 4)), np.zeros(4), **kw),
                             dict(impl="numpy")),
    "backend.gaussian_nll_grad": (
        lambda tmp, **kw: backend.gaussian_nll_grad(X, np.zeros((4, 4)), np.zeros(4), **kw),
        dict(scale=0.25, impl="numpy")),
    "backend.reparameterize_kl_forward": (
        lambda tmp, **kw: backend.reparameterize_kl_forward(np.zeros((2, 4)), np.ones((2, 2)), **kw),
        dict(impl="numpy")),
    "backend.reparameterize_kl_backward": (
        lambda tmp, **kw: backend.reparameterize_kl_backward(np.zeros((2, 4)), np.ones((2, 2)), np.ones((2, 2)),
                                                             **kw),
        dict(beta=1.0, scale=0.5, impl="numpy")),
    "backend.adam_update": (
        lambda tmp, **kw: backend.adam_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), **kw),
        dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, step=1, impl="numpy")),
    "backend.sgd_momentum_update": (
        lambda tmp, **kw: backend.sgd_momentum_update(np.ones(3), np.ones(3), np.zeros(3), **kw),
        dict(lr=1e-2, momentum=0.9, impl="numpy")),
    # data, plots and cli: owned by another engineer while this file was written, walked all the same
    "data.binarize_static": (lambda tmp, **kw: data.binarize_static(X, **kw), {}),
    "data.binarize": (lambda tmp, **kw: data.binarize(X, **kw), {}),
    "data.scale_pixels": (lambda tmp, **kw: data.scale_pixels(X, **kw), {}),
    "data.stratified_subset": (lambda tmp, **kw: data.stratified_subset(Y, **kw),
                               dict(n_per_class=1, rng=np.random.default_rng(0))),
    "data.as_image_shape": (lambda tmp, **kw: data.as_image_shape(**kw), dict(shape=(2, 2))),
    "data.from_arrays": (lambda tmp, **kw: data.from_arrays(X, **kw), dict(image_shape=(2, 2), name="arrays")),
    "data.prepare": (lambda tmp, **kw: data.prepare(tiny_dataset(), **kw), {}),
    "plots.grid_array": (lambda tmp, **kw: plots.grid_array(X, **kw),
                         dict(image_shape=(2, 2), ncols=2, pad=1, scale=1)),
    "plots.image_grid": (lambda tmp, **kw: plots.image_grid(X, (2, 2), tmp / "g.png", **kw), {}),
    "plots.save_samples": (lambda tmp, **kw: plots.save_samples(X, (2, 2), tmp / "s.png", **kw), {}),
    "plots.save_reconstructions": (lambda tmp, **kw: plots.save_reconstructions(X, X, (2, 2), tmp / "r.png", **kw),
                                   {}),
    "plots.traversal_images": (lambda tmp, **kw: plots.traversal_images(tiny(), X, **kw), dict(n_dims=1, n_steps=2)),
    "plots.save_traversals": (lambda tmp, **kw: plots.save_traversals(tiny(), X, (2, 2), tmp / "t.png", **kw),
                              dict(n_dims=1, n_steps=2)),
    "plots.save_latent_scatter": (lambda tmp, **kw: plots.save_latent_scatter(X[:, :2], tmp / "l.png", **kw), {}),
    "plots.save_loss_curves": (
        lambda tmp, **kw: plots.save_loss_curves({"epoch": [1], "loss": [1.0], "kl": [0.5]}, tmp / "c.png", **kw),
        {}),
    "cli.main": (lambda tmp, **kw: cli.main(**kw), {}),
}

# (entry, argument, kind, extra wrong values of this argument alone, the name the message must contain)
# "hidden[0]" puts the value into entry 0 of the sequence ``hidden`` of the valid kwargs.
ARGUMENTS = [
    ("VAE", "n_input", "positive_int", [], None),
    ("VAE", "hidden", "widths", [], None),
    ("VAE", "hidden[0]", "positive_int", [], None),
    ("VAE", "n_latent", "positive_int", [], None),
    ("VAE", "likelihood", "choice", ["poisson"], None),
    ("VAE", "variance", "positive_float_or_none", [], None),     # bernoulli: any variance is a wrong value
    ("VAE(gaussian)", "variance", "positive_float_or_none", [1e30], None),
    ("VAE", "activation", "choice", ["swish", "RELU"], None),
    ("VAE(leaky_relu)", "alpha", "positive_float_or_none", [INF], None),
    ("VAE(decoder_hidden)", "decoder_hidden", "widths_or_none", [], None),
    ("VAE(decoder_hidden)", "decoder_hidden[0]", "positive_int", [], None),
    ("VAE", "dtype", "float_dtype", [], None),
    ("VAE", "seed", "seed", [], None),
    *[(fit, arg, kind, extra, None) for fit in ("VAE.fit", "train.fit") for arg, kind, extra in [
        ("epochs", "positive_int", []),
        ("batch_size", "positive_int", [5]),          # more than the 4 examples
        ("lr", "positive_float", []),
        ("optimizer", "choice", ["rmsprop"]),
        ("beta", "nonnegative_float", []),
        ("warmup_epochs", "nonnegative_int", []),
        ("shuffle", "boolean", []),
        ("binarize", "boolean", []),
        ("verbose", "boolean", []),
        ("callback", "callable_or_none", []),
        ("checkpoint", "path_or_none", ["model.pkl"]),
    ]],
    ("VAE.fit(checkpoint)", "checkpoint_every", "positive_int_or_none", [], None),
    ("VAE.loss_and_grads", "beta", "nonnegative_float", [], None),
    ("VAE.elbo", "k", "positive_int", [], None),
    ("VAE.elbo", "rng", "rng", [], None),
    ("VAE.elbo", "batch_size", "positive_int", [], None),
    *[(ll, arg, kind, [], None) for ll in ("VAE.log_likelihood", "objectives.log_likelihood")
      for arg, kind in [("k", "positive_int"), ("rng", "rng"), ("batch_size", "positive_int"),
                        ("max_rows", "positive_int")]],
    ("VAE.sample", "n", "positive_int", [], None),
    ("VAE.sample", "rng", "rng", [], None),
    ("VAE.astype", "dtype", "float_dtype", [], None),
    ("VAE.save", "path", "path", ["model.pkl"], None),
    ("purevae.save", "path", "path", ["model.pkl"], None),
    ("purevae.load", "path", "path", [], None),
    ("purevae.gradcheck", "beta", "nonnegative_float", [], None),
    ("purevae.gradcheck", "h", "positive_float", [], None),
    ("purevae.gradcheck", "max_entries", "positive_int", [], None),
    ("purevae.gradcheck", "seed", "seed_not_none", [], None),
    ("purevae.set_backend", "name", "choice", ["torch"], "backend"),
    ("optim.Adam", "lr", "positive_float", [], None),
    ("optim.Adam", "beta1", "fraction", [], None),
    ("optim.Adam", "beta2", "fraction", [], None),
    ("optim.Adam", "eps", "positive_float", [], None),
    ("optim.SGD", "lr", "positive_float", [], None),
    ("optim.SGD", "momentum", "fraction", [], None),
    ("optim.make_optimizer", "name", "choice", ["rmsprop"], "optimizer"),
    ("optim.make_optimizer", "lr", "positive_float", [], None),
    ("likelihoods.make_likelihood", "likelihood", "choice", ["poisson"], None),
    ("likelihoods.make_likelihood", "variance", "positive_float_or_none", [1e30], None),
    ("likelihoods.Gaussian", "variance", "positive_float_or_none", [1e30], None),
    ("objectives.warmup_beta", "epoch", "nonnegative_int", [], None),
    ("objectives.warmup_beta", "warmup_epochs", "nonnegative_int", [], None),
    ("objectives.warmup_beta", "beta", "nonnegative_float", [], None),
    ("backend.kernels", "impl", "choice_or_none", ["torch"], None),
    *[(f"backend.{fn}", arg, kind, extra, None)
      for fn in ("bias_activation_forward", "activation_backward_bias") for arg, kind, extra in [
          ("activation", "choice_or_code", ["swish"]),
          ("alpha", "positive_float_or_none", [INF]),
          ("impl", "choice_or_none", ["torch"]),
      ]],
    *[(f"backend.{fn}", arg, kind, extra, None) for fn, arg, kind, extra in [
        ("bernoulli_nll_grad", "scale", "nonnegative_float", []),
        ("bernoulli_nll_grad", "impl", "choice_or_none", ["torch"]),
        ("bernoulli_nll", "impl", "choice_or_none", ["torch"]),
        ("gaussian_nll", "impl", "choice_or_none", ["torch"]),
        ("gaussian_nll_grad", "scale", "nonnegative_float", []),
        ("gaussian_nll_grad", "impl", "choice_or_none", ["torch"]),
        ("reparameterize_kl_forward", "impl", "choice_or_none", ["torch"]),
        ("reparameterize_kl_backward", "beta", "nonnegative_float", []),
        ("reparameterize_kl_backward", "scale", "nonnegative_float", []),
        ("reparameterize_kl_backward", "impl", "choice_or_none", ["torch"]),
        ("adam_update", "lr", "positive_float", []),
        ("adam_update", "beta1", "fraction", []),
        ("adam_update", "beta2", "fraction", []),
        ("adam_update", "eps", "positive_float", []),
        ("adam_update", "step", "positive_int", []),
        ("adam_update", "impl", "choice_or_none", ["torch"]),
        ("sgd_momentum_update", "lr", "positive_float", []),
        ("sgd_momentum_update", "momentum", "fraction", []),
        ("sgd_momentum_update", "impl", "choice_or_none", ["torch"]),
    ]],
    ("data.binarize_static", "seed", "seed_not_none", [], None),
    ("data.binarize", "rng", "generator", [], None),
    ("data.scale_pixels", "dtype", "float_dtype", [], None),
    ("data.stratified_subset", "n_per_class", "positive_int", [3], None),   # more than the 2 of each class
    ("data.stratified_subset", "rng", "generator", [], None),
    ("data.as_image_shape", "shape[0]", "positive_int", [], "image_shape[0]"),
    ("data.as_image_shape", "shape[1]", "positive_int", [], "image_shape[1]"),
    ("data.from_arrays", "image_shape[0]", "positive_int", [3], "image_shape"),   # 3 x 2 is not 4 pixels
    ("data.from_arrays", "name", "string", [], None),
    ("data.prepare", "binarize", "choice", ["sometimes"], None),
    ("data.prepare", "dtype", "float_dtype", [], None),
    ("data.prepare", "n_train", "positive_int_or_none", [], None),
    ("data.prepare", "n_test", "positive_int_or_none", [], None),
    ("data.prepare", "include_train", "boolean", [], None),
    ("plots.grid_array", "image_shape[0]", "positive_int", [], None),
    ("plots.grid_array", "ncols", "positive_int", [], None),
    ("plots.grid_array", "pad", "nonnegative_int", [], None),
    ("plots.grid_array", "scale", "positive_int", [], None),
    *[(f"plots.{fn}", arg, "positive_int", [], None)
      for fn, arg in [("image_grid", "ncols"), ("image_grid", "scale"), ("save_samples", "ncols"),
                      ("save_samples", "scale"), ("save_reconstructions", "ncols"), ("save_reconstructions", "scale"),
                      ("save_traversals", "scale")]],
    ("plots.image_grid", "pad", "nonnegative_int", [], None),
    *[(f"plots.{fn}", arg, kind, extra, None) for fn in ("traversal_images", "save_traversals")
      for arg, kind, extra in [
          ("n_dims", "positive_int", []),
          ("n_steps", "positive_int", []),
          ("limit", "positive_float", []),
          ("index", "nonnegative_int", [4]),      # x has 4 rows
      ]],
    ("plots.traversal_images", "dims[0]", "nonnegative_int", [2], "dims"),   # n_latent = 2
    ("plots.save_latent_scatter", "title", "str_or_none", [], None),
    ("plots.save_loss_curves", "title", "str_or_none", [], None),
    ("cli.main", "argv", "argv", [], None),
]

SEQUENCE_DEFAULTS = {"hidden": (3,), "decoder_hidden": (3,), "shape": (2, 2), "image_shape": (2, 2), "dims": (0,)}


def _kwargs(entry: str, arg: str, value) -> dict:
    """The valid kwargs of ``entry`` with ``arg`` set to ``value`` ("hidden[0]": entry 0 of the sequence)."""
    kwargs = dict(ENTRIES[entry][1])
    name, _, index = arg.partition("[")
    if index:
        seq = list(kwargs.get(name, SEQUENCE_DEFAULTS[name]))
        seq[int(index[:-1])] = value
        value = tuple(seq)
    kwargs[name] = value
    return kwargs


def _cases():
    for entry, arg, kind, extra, shown in ARGUMENTS:
        type_values, value_values = KINDS[kind]
        for error, values in ((TypeError, type_values), (ValueError, [*value_values, *extra])):
            for value in values:
                if isinstance(value, float) and math.isnan(value):
                    label = "nan"
                elif isinstance(value, type):
                    label = value.__name__
                else:
                    label = repr(value)
                yield pytest.param(entry, arg, value, error, shown or arg,
                                   id=f"{entry}-{arg}={label}-{error.__name__}")


def test_the_tables_cover_every_entry_point_and_kind():
    assert {entry for entry, *_ in ARGUMENTS} == set(ENTRIES)
    assert {kind for _, _, kind, *_ in ARGUMENTS} == set(KINDS)
    assert len(list(_cases())) > 400


@pytest.mark.parametrize("entry, arg, value, error, shown", list(_cases()))
def test_wrong_type_is_a_type_error_wrong_value_a_value_error(entry, arg, value, error, shown, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)          # a call that wrongly succeeds writes its files here, not in the repository
    old_backend = purevae.get_backend()
    call = ENTRIES[entry][0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CastWarning)
            with pytest.raises(error, match=re.escape(shown)):
                call(tmp_path, **_kwargs(entry, arg, value))
    finally:
        purevae.set_backend(old_backend)


def test_valid_kwargs_of_every_entry_point_are_accepted(tmp_path, monkeypatch):
    """The tables' valid kwargs really are valid: the errors above come from the one bad argument."""
    monkeypatch.chdir(tmp_path)
    needs_an_argument = {"VAE.astype": dict(dtype="float64"), "VAE.save": dict(path=tmp_path / "m.npz"),
                         "purevae.save": dict(path=tmp_path / "m.npz"), "purevae.load": dict(path=tmp_path / "m.npz"),
                         "purevae.set_backend": dict(name=purevae.get_backend()),
                         "backend.kernels": dict(impl="numpy"), "data.binarize_static": dict(seed=0),
                         "data.binarize": dict(rng=np.random.default_rng(0)), "cli.main": dict(argv=["--version"])}
    for entry, (call, kwargs) in ENTRIES.items():
        call(tmp_path, **{**kwargs, **needs_an_argument.get(entry, {})})


def test_activation_codes_and_numpy_dtypes_are_still_accepted():
    """What the rule must not refuse: an int code of an activation, a numpy dtype or scalar type, numpy ints."""
    got = backend.bias_activation_forward(np.ones((1, 2)), np.zeros(2), backend.ops.ACTIVATIONS["tanh"])
    np.testing.assert_allclose(got, np.tanh(np.ones((1, 2))), rtol=1e-15, atol=0)
    assert tiny(dtype=np.float64).dtype == np.float64
    assert tiny(dtype=np.dtype("float32")).astype(np.float64).dtype == np.float64
    assert purevae.VAE(np.int64(4), hidden=(np.int32(3),), n_latent=2).hidden == (3,)
    assert tiny().sample(np.int64(2), rng=np.int64(3)).shape == (2, 4)
    assert optim.Adam(lr=np.float32(0.5), beta1=0).beta1 == 0.0


# ---------------------------------------------------------------------------------------------
# CastWarning names the line of the caller, whatever the entry point (issue 9, item 6)
# ---------------------------------------------------------------------------------------------
XI = (X > 0.5).astype(np.int64)          # integer data: cast to the model's dtype with a CastWarning
ZI = np.zeros((4, 2), np.int64)
WARNING_CALLS = {  # each call on one line: the warning must point at that line of this file
    "VAE.fit": lambda m: m.fit(XI, epochs=1, batch_size=2),
    "VAE.fit(validation_data)": lambda m: m.fit(X, epochs=1, batch_size=2, validation_data=XI),
    "train.fit": lambda m: train.fit(m, XI, epochs=1, batch_size=2),
    "VAE.loss_and_grads": lambda m: m.loss_and_grads(XI),
    "VAE.encode": lambda m: m.encode(XI),
    "VAE.decode": lambda m: m.decode(ZI),
    "VAE.reconstruct": lambda m: m.reconstruct(XI),
    "VAE.elbo": lambda m: m.elbo(XI),
    "VAE.log_likelihood": lambda m: m.log_likelihood(XI, k=2),
    "objectives.log_likelihood": lambda m: objectives.log_likelihood(m, XI, k=2),
    "objectives.elbo_terms": lambda m: objectives.elbo_terms(m, XI),
    "purevae.gradcheck": lambda m: purevae.gradcheck(m, XI[:2], max_entries=2),
    "plots.traversal_images": lambda m: plots.traversal_images(m, XI, n_dims=1, n_steps=2),
}


@pytest.mark.parametrize("entry", list(WARNING_CALLS))
def test_cast_warning_names_the_callers_line(entry):
    call = WARNING_CALLS[entry]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(tiny())
    cast = [w for w in caught if issubclass(w.category, CastWarning)]
    assert cast, f"{entry} gave no CastWarning"
    for w in cast:
        assert (w.filename, w.lineno) == (__file__, call.__code__.co_firstlineno), str(w.message)


def test_cast_warning_names_the_callers_line_called_directly():
    model = tiny()
    with pytest.warns(CastWarning, match="x had dtype int64") as record:
        line = inspect.currentframe().f_lineno + 1
        model.encode(XI)
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]
