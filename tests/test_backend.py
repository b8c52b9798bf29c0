"""backend.py: the switch between the Cython kernels and their NumPy twins, and every check of its wrappers.

Each ``raise`` in backend.py has a test here (``pytest.raises(..., match=...)``); the kernels' agreement
with their twins is tests/test_kernels.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from purevae import backend, ops


@pytest.fixture
def restore_backend():
    name = backend.get_backend()
    yield
    backend.set_backend(name)


@pytest.fixture
def no_extension(restore_backend, monkeypatch):
    """As if purevae._kernels had not been built."""
    backend.set_backend("numpy")
    monkeypatch.setattr(backend, "_cython_kernels", None)


# ---------------------------------------------------------------------------------------------
# the switch
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not backend.cython_available(), reason="the Cython extension is not built")
def test_default_backend_is_cython_when_built():
    assert backend.cython_available()
    assert backend.kernels("cython").__name__ == "purevae._kernels"


@pytest.mark.parametrize("name", backend.BACKENDS)
def test_set_backend_selects_the_module(name, restore_backend):
    if name == "cython" and not backend.cython_available():
        pytest.skip("the Cython extension is not built")
    backend.set_backend(name)
    assert backend.get_backend() == name
    assert backend.kernels() is (ops if name == "numpy" else backend._cython_kernels)


def test_set_backend_refuses_unknown_names(restore_backend):
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.set_backend("torch")


def test_set_backend_cython_without_extension(no_extension):
    with pytest.raises(ValueError, match="backend 'cython' is not available"):
        backend.set_backend("cython")
    assert backend.get_backend() == "numpy"
    assert backend.openmp_threads() == 0


def test_kernels_refuses_unknown_impl():
    with pytest.raises(ValueError, match="impl must be one of"):
        backend.kernels("fortran")


def test_kernels_cython_without_extension(no_extension):
    with pytest.raises(ValueError, match="impl 'cython' is not available"):
        backend.kernels("cython")
    assert backend.kernels("numpy") is ops


def test_openmp_threads_is_a_count():
    threads = backend.openmp_threads()
    assert isinstance(threads, int) and threads >= 0


# ---------------------------------------------------------------------------------------------
# as_kernel_arrays
# ---------------------------------------------------------------------------------------------
def test_as_kernel_arrays_copies_strided_and_keeps_contiguous(rng):
    a = rng.random((4, 6))
    readonly = a.copy()
    readonly.flags.writeable = False
    out = backend.as_kernel_arrays(a=a, strided=a[:, ::2], fortran=np.asfortranarray(a), readonly=readonly)
    assert out[0] is a and out[3] is readonly                     # nothing to copy: passed as they are
    for got, want in zip(out[1:3], (a[:, ::2], a)):
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16), np.ones(3, complex)])
def test_as_kernel_arrays_refuses_other_dtypes(bad):
    with pytest.raises(TypeError, match="h must be a float32 or float64 array"):
        backend.as_kernel_arrays(h=bad)


def test_as_kernel_arrays_refuses_mixed_precision():
    with pytest.raises(TypeError, match="bias has dtype float32 but the other arguments are float64"):
        backend.as_kernel_arrays(h=np.ones((2, 3)), bias=np.ones(3, np.float32))


def test_as_kernel_arrays_refuses_a_dtype_other_than_asked():
    with pytest.raises(TypeError, match="h has dtype float64 but the other arguments are float32"):
        backend.as_kernel_arrays(dtype=np.float32, h=np.ones((2, 3)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_as_kernel_arrays_refuses_non_finite(value):
    a = np.ones((2, 3))
    a[1, 2] = value
    with pytest.raises(ValueError, match="logits contains NaN or inf"):
        backend.as_kernel_arrays(logits=a)


# ---------------------------------------------------------------------------------------------
# shapes and settings checked by the wrappers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["numpy", "cython"])
def test_wrappers_check_shapes(impl):
    if impl == "cython" and not backend.cython_available():
        pytest.skip("the Cython extension is not built")
    ones = np.ones
    with pytest.raises(ValueError, match=r"pre must be 2-D \(batch, features\)"):
        backend.bias_activation_forward(ones(3), ones(3), "relu", impl=impl)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(4,\)"):
        backend.bias_activation_forward(ones((2, 3)), ones(4), "relu", impl=impl)
    with pytest.raises(ValueError, match="h must be 2-D"):
        backend.activation_backward_bias(ones((2, 3, 1)), ones((2, 3, 1)), "relu", impl=impl)
    with pytest.raises(ValueError, match=r"grad_h must have shape \(2, 3\)"):
        backend.activation_backward_bias(ones((2, 4)), ones((2, 3)), "relu", impl=impl)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        backend.bernoulli_nll_grad(ones(3), ones(3), impl=impl)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\) with logits's 2 rows a multiple k B"):
        backend.bernoulli_nll_grad(ones((2, 2)), ones((2, 3)), impl=impl)
    with pytest.raises(ValueError, match=r"logits's 5 rows a multiple k B of B"):
        backend.bernoulli_nll(ones((2, 3)), ones((5, 3)), impl=impl)
    with pytest.raises(ValueError, match=r"logits's 0 rows a multiple"):
        backend.bernoulli_nll(ones((2, 3)), ones((0, 3)), impl=impl)
    with pytest.raises(ValueError, match=r"logits's 2 rows a multiple"):
        backend.bernoulli_nll(ones((0, 3)), ones((2, 3)), impl=impl)
    with pytest.raises(ValueError, match="mean must be 2-D"):
        backend.gaussian_nll_grad(ones(3), ones(3), ones(3), impl=impl)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\) with mean's 2 rows a multiple k B"):
        backend.gaussian_nll_grad(ones((3, 3)), ones((2, 3)), ones(3), impl=impl)
    with pytest.raises(ValueError, match=r"the decoder's output must have s \* B = 4 rows"):
        backend.bernoulli_log_weights(ones((2, 3)), ones((6, 3)), ones((2, 2)), ones((2, 2, 1)), ones((2, 2, 1)),
                                      impl=impl)
    with pytest.raises(ValueError, match=r"mu_logvar must have shape \(2, 2\)"):
        backend.gaussian_log_weights(ones((2, 3)), ones((4, 3)), ones(3), ones((2, 4)), ones((2, 2, 1)),
                                     ones((2, 2, 1)), impl=impl)
    with pytest.raises(ValueError, match=r"logvar must have shape \(3,\)"):
        backend.gaussian_nll_grad(ones((2, 3)), ones((2, 3)), ones(2), impl=impl)
    with pytest.raises(ValueError, match="eps must be 2-D"):
        backend.reparameterize_kl_forward(ones(4), ones(2), impl=impl)
    with pytest.raises(ValueError, match=r"mu_logvar must have shape \(2, 6\)"):
        backend.reparameterize_kl_forward(ones((2, 5)), ones((2, 3)), impl=impl)
    with pytest.raises(ValueError, match="eps must be 2-D"):
        backend.reparameterize_kl_backward(ones(4), ones(2), ones(2), impl=impl)
    with pytest.raises(ValueError, match=r"mu_logvar must have shape \(2, 6\)"):
        backend.reparameterize_kl_backward(ones((2, 4)), ones((2, 3)), ones((2, 3)), impl=impl)
    with pytest.raises(ValueError, match=r"grad_z must have shape \(2, 3\)"):
        backend.reparameterize_kl_backward(ones((2, 6)), ones((2, 3)), ones((2, 2)), impl=impl)


@pytest.mark.parametrize("call", [
    lambda: backend.bernoulli_nll_grad(np.ones((1, 2), complex), np.zeros((1, 2))),
    lambda: backend.gaussian_nll_grad(np.ones((1, 2), complex), np.zeros((1, 2)), np.zeros(2)),
])
def test_likelihood_wrappers_refuse_complex_x(call):
    with pytest.raises(TypeError, match="x must be a real numeric array, got dtype complex128"):
        call()


def test_gaussian_wrapper_refuses_complex_logvar():
    with pytest.raises(TypeError, match="logvar must be a real numeric array, got dtype complex128"):
        backend.gaussian_nll_grad(np.ones((1, 2)), np.zeros((1, 2)), np.zeros(2, complex))


def test_likelihood_wrappers_cast_real_x_to_the_model_dtype():
    x = np.array([[0, 1, 1]], np.uint8)
    nll, _ = backend.bernoulli_nll_grad(x, np.zeros((1, 3), np.float32))
    assert nll.dtype == np.float32
    np.testing.assert_allclose(nll, [3 * np.log(2)], rtol=1e-6, atol=0)


def test_bernoulli_wrapper_refuses_targets_outside_0_1():
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        backend.bernoulli_nll_grad(np.full((1, 2), 1.5), np.zeros((1, 2)))


@pytest.mark.parametrize("activation, alpha, match", [
    ("leaky_relu", 0.0, "alpha of leaky_relu must be > 0"),
    ("leaky_relu", -0.1, "alpha of leaky_relu must be > 0"),
    ("elu", 0.0, "alpha of elu must be > 0"),
    ("swish", None, "activation must be one of"),
    (17, None, "activation code must be one of"),
])
def test_activation_settings_are_checked(activation, alpha, match):
    with pytest.raises(ValueError, match=match):
        backend.bias_activation_forward(np.ones((2, 3)), np.ones(3), activation, alpha)


def test_activation_codes_are_accepted(rng):
    pre, bias = rng.normal(0, 1, (2, 3)), rng.normal(0, 1, 3)
    by_code = backend.bias_activation_forward(pre, bias, ops.ACTIVATIONS["tanh"])
    np.testing.assert_allclose(by_code, np.tanh(pre + bias), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the in-place optimizer wrappers
# ---------------------------------------------------------------------------------------------
def test_adam_wrapper_refuses_step_zero():
    p = np.ones(3)
    with pytest.raises(ValueError, match="step must be a positive integer, got 0"):
        backend.adam_update(p, np.ones(3), np.zeros(3), np.zeros(3), 1e-3, step=0)


@pytest.mark.parametrize("update", ["adam", "sgd"])
def test_inplace_wrappers_check_their_arrays(update):
    def call(param, grad, state):
        if update == "adam":
            backend.adam_update(param, grad, state, state.copy(), 1e-3)
        else:
            backend.sgd_momentum_update(param, grad, state, 1e-3)

    good = np.ones(4)
    with pytest.raises(TypeError, match="param must be a numpy array"):
        call([1.0, 2.0, 3.0, 4.0], good, np.zeros(4))
    with pytest.raises(TypeError, match="param must be float32 or float64, got dtype int64"):
        call(np.ones(4, np.int64), good, np.zeros(4))
    with pytest.raises(TypeError, match="has dtype float32 but the other arguments are float64"):
        call(np.ones(4), good, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="param must be C-contiguous and writeable"):
        call(np.ones(8)[::2], good, np.zeros(4))
    readonly = np.ones(4)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="param must be C-contiguous and writeable"):
        call(readonly, good, np.zeros(4))
    with pytest.raises(ValueError, match=r"grad must have shape \(4,\), got \(3,\)"):
        call(np.ones(4), np.ones(3), np.zeros(4))
    with pytest.raises(TypeError, match="grad has dtype float32 but the other arguments are float64"):
        call(np.ones(4), np.ones(4, np.float32), np.zeros(4))


def test_inplace_wrappers_check_state_shapes():
    with pytest.raises(ValueError, match=r"m must have shape \(4,\)"):
        backend.adam_update(np.ones(4), np.ones(4), np.zeros(3), np.zeros(4), 1e-3)
    with pytest.raises(ValueError, match=r"v must have shape \(4,\)"):
        backend.adam_update(np.ones(4), np.ones(4), np.zeros(4), np.zeros(5), 1e-3)
    with pytest.raises(ValueError, match=r"velocity must have shape \(4,\)"):
        backend.sgd_momentum_update(np.ones(4), np.ones(4), np.zeros(2), 1e-3)


def test_inplace_wrappers_accept_any_shape_and_a_strided_grad(rng):
    param, grad = rng.random((3, 4)), rng.random((3, 8))[:, ::2]
    m, v = np.zeros_like(param), np.zeros_like(param)
    before = param.copy()
    backend.adam_update(param, grad, m, v, 1e-2)
    # the first bias-corrected Adam step moves every entry by lr in the direction of -sign(g)
    np.testing.assert_allclose(before - param, 1e-2 * np.sign(grad), rtol=1e-6, atol=0)
