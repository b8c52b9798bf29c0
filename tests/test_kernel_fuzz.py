"""The Cython kernels cannot be crashed from Python (issue 5).

Hypothesis drives every kernel's Python wrapper (``purevae.backend``) with arbitrary shapes (0 and
1 included), dtypes, memory layouts and mismatched argument shapes. For each draw the Cython path
must do what the NumPy twin does: raise the same clear exception (TypeError / ValueError naming an
argument), or return the same numbers within float tolerance. A segfault or an out-of-bounds write
would kill or corrupt this process; CI also runs this file against a build with bounds checks on
(``PUREVAE_DEBUG_KERNELS=1``), where an out-of-bounds index raises IndexError instead.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from purevae import backend

pytestmark = pytest.mark.skipif(not backend.cython_available(), reason="extension not built")

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.complex128, bool]
LAYOUTS = ["C", "F", "strided", "negative", "readonly"]
TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}

# argument name -> its shape in a valid call, in symbols: k samples, b batch, n width, N = 2n (mu_logvar),
# R = k b (the decoder's rows for k samples), l latent width, M = 2l, C classes (labels: integers in 0..C-1;
# n_classes: the number C itself)
KERNELS = {
    "bias_activation_forward": (("pre", "bn"), ("bias", "n")),
    "label_rows_forward": (("pre", "bn"), ("label_weight", "Cn"), ("labels", "b")),
    "label_rows_backward": (("grad_pre", "bn"), ("labels", "b"), ("n_classes", "")),
    "activation_backward_bias": (("grad_h", "bn"), ("h", "bn")),
    "bernoulli_nll": (("x", "bn"), ("logits", "Rn")),
    "bernoulli_nll_grad": (("x", "bn"), ("logits", "Rn")),
    "continuous_bernoulli_nll": (("x", "bn"), ("logits", "Rn")),
    "continuous_bernoulli_nll_grad": (("x", "bn"), ("logits", "Rn")),
    "continuous_bernoulli_log_weights": (("x", "bn"), ("logits", "Rn"), ("mu_logvar", "bM"), ("eps", "kbl"),
                                         ("z", "kbl")),
    "gaussian_nll": (("x", "bn"), ("mean", "Rn"), ("logvar", "n")),
    "multinomial_nll": (("x", "bn"), ("logits", "Rn")),
    "multinomial_nll_grad": (("x", "bn"), ("logits", "Rn")),
    "gaussian_nll_grad": (("x", "bn"), ("mean", "Rn"), ("logvar", "n")),
    "bernoulli_log_weights": (("x", "bn"), ("logits", "Rn"), ("mu_logvar", "bM"), ("eps", "kbl"), ("z", "kbl")),
    "gaussian_log_weights": (("x", "bn"), ("mean", "Rn"), ("logvar", "n"), ("mu_logvar", "bM"), ("eps", "kbl"),
                             ("z", "kbl")),
    "reparameterize_kl_forward": (("mu_logvar", "bN"), ("eps", "bn")),
    "reparameterize_kl_backward": (("mu_logvar", "bN"), ("eps", "bn"), ("grad_z", "bn")),
    "iwae_weights": (("nll", "kb"), ("mu_logvar", "bN"), ("eps", "kbn"), ("z", "kbn")),
    "iwae_backward": (("mu_logvar", "bN"), ("eps", "kbn"), ("z", "kbn"), ("grad_z", "kbn"), ("weights", "kb")),
}
FLOAT64_ONLY = {"weights"}   # the normalised importance weights are float64 whatever the model's dtype
LABEL_DTYPES = [np.int64, np.int32, np.uint8, np.intp, np.float64, bool]


def arrange(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if layout == "negative" and a.ndim:
        return a[::-1].copy()[::-1]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
    return a


@st.composite
def kernel_calls(draw):
    name = draw(st.sampled_from(sorted(KERNELS)))
    k, batch, n = draw(st.integers(1, 4)), draw(st.integers(0, 5)), draw(st.integers(0, 7))
    n_latent, n_classes = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    sizes = {"k": k, "b": batch, "n": n, "N": 2 * n, "R": k * batch, "l": n_latent, "M": 2 * n_latent, "C": n_classes}
    mismatch = draw(st.booleans())
    common = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    args = {}
    for arg, dims in KERNELS[name]:
        if arg == "n_classes":
            args[arg] = n_classes if not (mismatch and draw(st.booleans())) else draw(st.sampled_from([0, -1, 2.0]))
            continue
        shape = tuple(sizes[d] for d in dims)
        if mismatch and draw(st.booleans()):
            shape = tuple(draw(st.integers(0, 6)) for _ in range(draw(st.integers(0, 3))))
        dtype = np.float64 if arg in FLOAT64_ONLY else common
        dtype = draw(st.sampled_from(DTYPES)) if mismatch and draw(st.booleans()) else dtype
        values = rng.random(shape) if arg == "x" else rng.normal(0, 3, shape)
        if arg == "x" and name.startswith("multinomial"):   # word counts (a draw with a fraction: the error path)
            values = rng.integers(0, 3, shape) + (0.5 * (rng.random(shape) < 0.1) if mismatch else 0)
        if arg == "labels":   # in range, or (a mismatched draw) one step outside it
            low, high = (-1, n_classes + 1) if mismatch and draw(st.booleans()) else (0, n_classes)
            values = rng.integers(low, high, shape)
            dtype = draw(st.sampled_from(LABEL_DTYPES)) if mismatch and draw(st.booleans()) else np.intp
            if np.dtype(dtype).kind == "u" or dtype is bool:
                values = np.abs(values)
        args[arg] = arrange(np.asarray(values).astype(dtype), draw(st.sampled_from(LAYOUTS)))
    return name, args


def call(name, args, impl):
    args = {arg: a.copy() if isinstance(a, np.ndarray) and a.flags.writeable else a for arg, a in args.items()}
    try:
        extra = {"activation": "elu", "alpha": 0.7} if "activation" in name else {}
        return getattr(backend, name)(*args.values(), **extra, impl=impl)
    except (TypeError, ValueError) as exc:
        return exc


@given(kernel_calls())
def test_cython_wrapper_matches_twin_or_raises_the_same(case):
    name, args = case
    got, want = call(name, args, "cython"), call(name, args, "numpy")
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        assert any(arg in str(want) for arg in args), f"message names no argument: {want}"
        return
    assert not isinstance(got, Exception), got
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    # float32 inputs round in float32 even where the output is float64 (the log-weights, the IWAE weights), and
    # a sum over a row of n terms may round n times: the tolerance follows the inputs' precision and widths
    inputs = [a for arg, a in args.items() if arg not in FLOAT64_ONLY and isinstance(a, np.ndarray)
              and a.dtype.kind == "f"]
    precision = max((TOL[a.dtype] for a in inputs if a.dtype in TOL), default=TOL[np.dtype(np.float64)])
    width = max([a.shape[-1] for a in inputs if a.ndim] + [1])
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        tol = max(TOL[w.dtype], precision) * max(width, w.shape[-1] if w.ndim else 1)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@given(st.integers(0, 9), st.sampled_from(DTYPES), st.sampled_from(LAYOUTS), st.booleans())
def test_optimizer_updates_validate_in_place_arrays(n, dtype, layout, mismatch):
    rng = np.random.default_rng(n)
    for impl in ("numpy", "cython"):
        param = arrange(rng.normal(size=n).astype(dtype), layout)
        grad = rng.normal(size=n + int(mismatch)).astype(np.float64)
        m, v = np.zeros_like(param), np.zeros_like(param)
        # NumPy calls arrays of 0 or 1 element contiguous whatever their strides: those are accepted
        contiguous = layout in ("C", "F") or (n <= 1 and layout != "readonly")
        ok = np.dtype(dtype) in (np.float32, np.float64) and contiguous and not mismatch
        if ok:
            before = param.copy()
            backend.adam_update(param, grad.astype(dtype), m, v, lr=0.1, impl=impl)
            assert np.all(np.isfinite(param)) and (n == 0 or not np.array_equal(param, before))
        else:
            with pytest.raises((TypeError, ValueError), match="param|grad|m |v |must"):
                backend.adam_update(param, grad, m, v, lr=0.1, impl=impl)
