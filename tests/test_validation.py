"""Bad input at every public entry point gets a TypeError/ValueError naming the argument (issue 5).

Each row of the tables below is one case: the call, the exception type and a part of its message.
Layout cases check that strided, transposed, negatively strided, Fortran-ordered and read-only
inputs give the same numbers as C-contiguous ones.
"""
import numpy as np
import pytest

import purevae
from purevae.validation import CastWarning

N_IN, N_LAT = 6, 3


@pytest.fixture
def model():
    return purevae.VAE(N_IN, (5,), N_LAT, seed=1, dtype="float64")


@pytest.fixture
def x(rng):
    return rng.random((4, N_IN))


# ---------------------------------------------------------------------------------------------
# constructor
# ---------------------------------------------------------------------------------------------
CONSTRUCTOR_CASES = [
    (dict(n_input=0), ValueError, "n_input"),
    (dict(n_input=-3), ValueError, "n_input"),
    (dict(n_input=2.5), TypeError, "n_input"),
    (dict(n_input="784"), TypeError, "n_input"),
    (dict(n_input=True), TypeError, "n_input"),
    (dict(hidden=(0,)), ValueError, r"hidden\[0\]"),
    (dict(hidden=(4, -1)), ValueError, r"hidden\[1\]"),
    (dict(hidden=("a",)), TypeError, r"hidden\[0\]"),
    (dict(hidden=None), TypeError, "hidden"),
    (dict(n_latent=0), ValueError, "n_latent"),
    (dict(likelihood="poisson"), ValueError, "likelihood"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(dtype="float16"), ValueError, "dtype"),
    (dict(dtype="int32"), ValueError, "dtype"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(variance=1.0), ValueError, "variance"),
    (dict(likelihood="gaussian", variance=0.0), ValueError, "variance"),
    (dict(likelihood="gaussian", variance=float("nan")), ValueError, "variance"),
    (dict(activation="leaky_relu", alpha=0.0), ValueError, "alpha"),
    (dict(activation="elu", alpha=-1.0), ValueError, "alpha"),
    (dict(decoder_hidden=(3, 0)), ValueError, r"decoder_hidden\[1\]"),
]


@pytest.mark.parametrize("kwargs, exc, match", CONSTRUCTOR_CASES)
def test_constructor_rejects(kwargs, exc, match):
    args = dict(n_input=N_IN, hidden=(5,), n_latent=N_LAT)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        purevae.VAE(**args)


# ---------------------------------------------------------------------------------------------
# data arrays, for every entry point that takes x
# ---------------------------------------------------------------------------------------------
def bad_arrays():
    good = np.full((4, N_IN), 0.5)
    nan, inf = good.copy(), good.copy()
    nan[1, 2], inf[0, 0] = np.nan, np.inf
    return [
        ("1-D", good[0], ValueError, "2-D"),
        ("3-D", good[None], ValueError, "2-D"),
        ("features", np.full((4, N_IN + 1), 0.5), ValueError, "features"),
        ("empty", np.empty((0, N_IN)), ValueError, "empty"),
        ("nan", nan, ValueError, "NaN"),
        ("inf", inf, ValueError, "NaN or inf"),
        ("complex", good.astype(complex), TypeError, "complex"),
        ("object", good.astype(object), TypeError, "dtype object"),
        ("strings", np.full((4, N_IN), "a"), TypeError, "numeric"),
    ]


ENTRY_POINTS = {
    "loss_and_grads": lambda m, a: m.loss_and_grads(a),
    "fit": lambda m, a: m.fit(a, epochs=1, batch_size=1),
    "fit(validation_data)": lambda m, a: m.fit(np.full((4, N_IN), 0.5), epochs=1, batch_size=2, validation_data=a),
    "encode": lambda m, a: m.encode(a),
    "reconstruct": lambda m, a: m.reconstruct(a),
    "elbo": lambda m, a: m.elbo(a),
    "log_likelihood": lambda m, a: m.log_likelihood(a, k=2),
    "gradcheck": lambda m, a: purevae.gradcheck(m, a),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", bad_arrays(), ids=lambda c: c[0])
def test_bad_data_is_refused_everywhere(model, entry, case):
    _, array, exc, match = case
    name = "validation_data" if "validation" in entry else "x"
    with pytest.raises(exc, match=match) as info:
        ENTRY_POINTS[entry](model, array)
    assert name in str(info.value)


@pytest.mark.parametrize("entry", ["loss_and_grads", "fit", "elbo", "log_likelihood", "gradcheck"])
@pytest.mark.parametrize("value", [-0.1, 1.5, 255.0])
def test_bernoulli_targets_outside_unit_interval(model, entry, value):
    a = np.full((4, N_IN), 0.5)
    a[2, 3] = value
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ENTRY_POINTS[entry](model, a)


def test_decode_checks_z(model):
    with pytest.raises(ValueError, match="z must have 3 features"):
        model.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="z contains NaN"):
        model.decode(np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="z must be a real numeric"):
        model.decode(np.zeros((2, 3), complex))


# ---------------------------------------------------------------------------------------------
# casts that are safe are made, and said
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int32, np.int64, np.float16])
def test_safe_casts_are_accepted_with_a_warning(model, x, dtype):
    binary = (x > 0.5).astype(dtype)
    eps = np.zeros((4, N_LAT))
    with pytest.warns(CastWarning, match=f"x had dtype {np.dtype(dtype)}; cast to float64"):
        got, _ = model.loss_and_grads(binary, eps=eps)
    want, _ = model.loss_and_grads(binary.astype(np.float64), eps=eps)
    assert got == want


def test_float64_data_for_a_float32_model_is_cast_silently(x):
    m32 = purevae.VAE(N_IN, (5,), N_LAT, seed=1, dtype="float32")
    loss, grads = m32.loss_and_grads(x, eps=np.zeros((4, N_LAT)))  # filterwarnings=error: no warning allowed
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())


# ---------------------------------------------------------------------------------------------
# eps
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("eps, exc, match", [
    (np.zeros((4, N_LAT + 1)), ValueError, r"eps must have shape \(4, 3\)"),
    (np.zeros((3, N_LAT)), ValueError, "eps must have shape"),
    (np.zeros(N_LAT), ValueError, "eps must have shape"),
    (np.zeros((0, 4, N_LAT)), ValueError, "eps must have shape"),
    (np.zeros((4, N_LAT), int), TypeError, "eps must be a float array"),
    (np.zeros((4, N_LAT), complex), TypeError, "eps must be a float array"),
    (np.full((4, N_LAT), np.nan), ValueError, "eps contains NaN"),
])
def test_bad_eps(model, x, eps, exc, match):
    with pytest.raises(exc, match=match):
        model.loss_and_grads(x, eps=eps)
    with pytest.raises(exc, match=match):
        purevae.gradcheck(model, x, eps=eps)


# ---------------------------------------------------------------------------------------------
# sizes and scalars
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda m, x: m.fit(x, epochs=0), ValueError, "epochs"),
    (lambda m, x: m.fit(x, epochs=1.5), TypeError, "epochs"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=0), ValueError, "batch_size"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=-2), ValueError, "batch_size"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2.0), TypeError, "batch_size"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=5), ValueError, "larger than the number of examples"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, lr=0), ValueError, "lr"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, lr=float("nan")), ValueError, "lr"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, beta=-1), ValueError, "beta"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, warmup_epochs=-1), ValueError, "warmup_epochs"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, optimizer="rmsprop"), ValueError, "optimizer"),
    (lambda m, x: m.loss_and_grads(x, beta=float("inf")), ValueError, "beta"),
    (lambda m, x: m.sample(0), ValueError, "n must be a positive integer"),
    (lambda m, x: m.sample(-1), ValueError, "n must be"),
    (lambda m, x: m.sample(2.5), TypeError, "n must be"),
    (lambda m, x: m.sample(True), TypeError, "n must be"),
    (lambda m, x: m.sample(2, rng="abc"), TypeError, "rng"),
    (lambda m, x: m.sample(2, rng=-4), ValueError, "rng"),
    (lambda m, x: m.elbo(x, k=0), ValueError, "k must be"),
    (lambda m, x: m.elbo(x, batch_size=0), ValueError, "batch_size"),
    (lambda m, x: m.log_likelihood(x, k=0), ValueError, "k must be"),
    (lambda m, x: m.log_likelihood(x, k=-5), ValueError, "k must be"),
    (lambda m, x: m.log_likelihood(x, k=2.5), TypeError, "k must be"),
    (lambda m, x: m.log_likelihood(x, k=True), TypeError, "k must be"),
    (lambda m, x: m.log_likelihood(x, k=2, max_rows=0), ValueError, "max_rows"),
])
def test_bad_sizes_and_scalars(model, x, call, exc, match):
    with pytest.raises(exc, match=match):
        call(model, x)


def test_backend_names():
    with pytest.raises(ValueError, match="backend must be one of"):
        purevae.set_backend("torch")


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def test_save_needs_npz_suffix(model, tmp_path):
    with pytest.raises(ValueError, match=r"\.npz"):
        model.save(tmp_path / "model.pkl")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        purevae.load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        purevae.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# layouts: same numbers as C-contiguous
# ---------------------------------------------------------------------------------------------
def layouts(a):
    fortran = np.asfortranarray(a)
    wide = np.zeros((a.shape[0], 2 * a.shape[1]))
    wide[:, ::2] = a
    reversed_rows = a[::-1].copy()[::-1]
    readonly = a.copy()
    readonly.flags.writeable = False
    return {"fortran": fortran, "strided": wide[:, ::2], "negative": reversed_rows, "readonly": readonly,
            "transposed": a.T.copy().T}


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_layouts_give_the_same_numbers(x, backend):
    if backend == "cython" and not purevae.cython_available():
        pytest.skip("extension not built")
    old = purevae.get_backend()
    purevae.set_backend(backend)
    try:
        m = purevae.VAE(N_IN, (5,), N_LAT, seed=1, dtype="float64")
        eps = np.random.default_rng(0).standard_normal((4, N_LAT))
        want_loss, want_grads = m.loss_and_grads(x, eps=eps)
        want_mu, _ = m.encode(x)
        for name, variant in layouts(x).items():
            for eps_name, eps_variant in layouts(eps).items():
                loss, grads = m.loss_and_grads(variant, eps=eps_variant)
                assert loss == want_loss, (name, eps_name)
                for key in grads:
                    np.testing.assert_array_equal(grads[key], want_grads[key], err_msg=f"{name} {eps_name} {key}")
            np.testing.assert_array_equal(m.encode(variant)[0], want_mu, err_msg=name)
            assert variant.flags.writeable == (name != "readonly")  # the input was not changed or unlocked
    finally:
        purevae.set_backend(old)


def test_rng_arguments_accept_what_default_rng_accepts():
    """SPEC 7: a Generator, a BitGenerator, a SeedSequence, an int or a sequence of ints all seed the same way."""
    from purevae.validation import as_rng
    model = purevae.VAE(4, (3,), 2, seed=0)
    x = np.full((3, 4), 0.5)
    want = model.elbo(x, rng=np.random.default_rng([1, 2]))
    for rng in ([1, 2], np.random.SeedSequence([1, 2]), np.random.PCG64(np.random.SeedSequence([1, 2])),
                np.array([1, 2])):
        np.testing.assert_array_equal(model.elbo(x, rng=rng), want)
    np.testing.assert_array_equal(model.sample(2, rng=7), model.sample(2, rng=np.random.default_rng(7)))
    for bad in (1.5, "seed", True, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, a seed"):
            as_rng(bad, 0)
    with pytest.raises(ValueError, match="rng seed must be >= 0"):
        as_rng(-1, 0)
    with pytest.raises(ValueError, match="rng is not a valid seed"):
        as_rng([-1, 2], 0)
