# cython: language_level=3
# purevae/_kernels.pyx -- Cython twins of the hot ops in purevae/ops.py: same names, arguments and results.
# Bounds checks are off file-wide (setup.py; PUREVAE_DEBUG_KERNELS=1 turns them on): every kernel trusts
# backend.py (or the model, which validated at its edge) for dtype, C-contiguity and the IN/OUT shapes listed.
# One fused `floating` per call: all array arguments of a call share float32 or float64.
from cython cimport floating
from libc.math cimport exp, expm1, fabs, log1p, sqrt, tanh

cdef enum:                       # the codes of ops.ACTIVATIONS
    IDENTITY = 0
    RELU = 1
    TANH = 2
    SOFTPLUS = 3
    LEAKY_RELU = 4
    ELU = 5

cdef double LOG_2PI = 1.8378770664093453


cdef inline floating _activate(floating a, int activation, floating alpha) noexcept nogil:
    """h = f(a); see ops.activation_forward."""
    if activation == RELU:
        return a if a > 0 else 0
    if activation == TANH:
        return tanh(a)
    if activation == SOFTPLUS:
        return (a if a > 0 else 0) + log1p(exp(-fabs(a)))     # max(a, 0) + log1p(e^-|a|): never overflows
    if activation == LEAKY_RELU:
        return a if a > 0 else alpha * a
    if activation == ELU:
        return a if a > 0 else alpha * expm1(a)
    return a


cdef inline floating _derivative(floating h, int activation, floating alpha) noexcept nogil:
    """f'(a) from h = f(a); see ops.activation_derivative."""
    if activation == RELU:
        return 1 if h > 0 else 0
    if activation == TANH:
        return 1 - h * h
    if activation == SOFTPLUS:
        return -expm1(-h)                                       # sigmoid(a) = 1 - e^-h
    if activation == LEAKY_RELU:
        return 1 if h > 0 else alpha
    if activation == ELU:
        return 1 if h > 0 else h + alpha
    return 1


def bias_activation_forward(floating[:, ::1] h,                 # IN/OUT (batch, n_out): x @ W in, f(x @ W + b) out
                            const floating[::1] bias,           # IN (n_out,)
                            int activation, double alpha):
    """h <- f(h + bias), in place."""
    cdef Py_ssize_t b, j
    cdef floating a_ = <floating>alpha
    with nogil:
        for b in range(h.shape[0]):
            for j in range(h.shape[1]):
                h[b, j] = _activate(h[b, j] + bias[j], activation, a_)


def activation_backward_bias(const floating[:, ::1] grad_h,     # IN (batch, n_out)
                             const floating[:, ::1] h,          # IN (batch, n_out), forward output
                             int activation, double alpha,
                             floating[:, ::1] grad_pre,         # OUT (batch, n_out), may alias grad_h
                             floating[::1] grad_bias):          # OUT (n_out,)
    """grad_pre = grad_h * f'(pre);  grad_bias = column sums of grad_pre."""
    cdef Py_ssize_t b, j
    cdef floating g, a_ = <floating>alpha
    with nogil:
        for j in range(h.shape[1]):
            grad_bias[j] = 0
        for b in range(h.shape[0]):
            for j in range(h.shape[1]):
                g = grad_h[b, j] * _derivative(h[b, j], activation, a_)
                grad_pre[b, j] = g
                grad_bias[j] += g


def bernoulli_nll_grad(const floating[:, ::1] x,                # IN (batch, n_input), values in [0, 1]
                       const floating[:, ::1] logits,           # IN (batch, n_input)
                       double scale,
                       floating[::1] nll,                       # OUT (batch,)
                       floating[:, ::1] grad_logits):           # OUT (batch, n_input)
    """nll[b] = sum_j log(1 + e^l_bj) - x_bj l_bj;   grad_logits = scale * (sigmoid(l) - x)"""
    cdef Py_ssize_t b, j
    cdef floating l, e, acc, s = <floating>scale
    with nogil:
        for b in range(x.shape[0]):
            acc = 0
            for j in range(x.shape[1]):
                l = logits[b, j]
                e = exp(-fabs(l))                                # in (0, 1]: no overflow
                acc += (l if l > 0 else 0) + log1p(e) - x[b, j] * l
                grad_logits[b, j] = s * ((1 / (1 + e) if l >= 0 else e / (1 + e)) - x[b, j])
            nll[b] = acc


def gaussian_nll_grad(const floating[:, ::1] x,                 # IN (batch, n_input)
                      const floating[:, ::1] mean,              # IN (batch, n_input)
                      const floating[::1] logvar,               # IN (n_input,)
                      double scale,
                      floating[::1] nll,                        # OUT (batch,)
                      floating[:, ::1] grad_mean,               # OUT (batch, n_input)
                      floating[::1] grad_logvar):               # OUT (n_input,)
    """nll_b = 0.5 sum_j (log 2pi + lv_j + (x-m)^2 e^-lv_j); grad_mean = s (m-x) e^-lv; grad_lv_j = s sum_b (1 - (x-m)^2 e^-lv_j)/2"""
    cdef Py_ssize_t b, j
    cdef floating d, q, acc, s = <floating>scale
    cdef floating const_part = 0
    with nogil:
        for j in range(x.shape[1]):
            grad_logvar[j] = 0
            const_part += <floating>LOG_2PI + logvar[j]
        for b in range(x.shape[0]):
            acc = 0
            for j in range(x.shape[1]):
                d = mean[b, j] - x[b, j]
                q = d * exp(-logvar[j])                          # (m - x) / sigma^2
                acc += d * q
                grad_mean[b, j] = s * q
                grad_logvar[j] += 1 - d * q
            nll[b] = <floating>0.5 * (const_part + acc)
        for j in range(x.shape[1]):
            grad_logvar[j] *= <floating>0.5 * s


def reparameterize_kl_forward(const floating[:, ::1] mu_logvar,   # IN (batch, 2 L)
                              const floating[:, ::1] eps,         # IN (batch, L)
                              floating[:, ::1] z,                 # OUT (batch, L)
                              floating[::1] kl):                  # OUT (batch,)
    """z = mu + exp(logvar/2) eps;  kl_b = 0.5 sum_k (mu^2 + e^logvar - logvar - 1)"""
    cdef Py_ssize_t b, k, n_latent = eps.shape[1]
    cdef floating mu, lv, acc
    with nogil:
        for b in range(eps.shape[0]):
            acc = 0
            for k in range(n_latent):
                mu = mu_logvar[b, k]
                lv = mu_logvar[b, n_latent + k]
                z[b, k] = mu + exp(<floating>0.5 * lv) * eps[b, k]
                acc += mu * mu + exp(lv) - lv - 1
            kl[b] = <floating>0.5 * acc


def reparameterize_kl_backward(const floating[:, ::1] mu_logvar,  # IN (batch, 2 L)
                               const floating[:, ::1] eps,        # IN (batch, L)
                               const floating[:, ::1] grad_z,     # IN (batch, L)
                               double beta, double scale,
                               floating[:, ::1] grad_mu_logvar):  # OUT (batch, 2 L)
    """grad_mu = grad_z + beta s mu;  grad_logvar = grad_z eps sigma / 2 + beta s (e^logvar - 1) / 2"""
    cdef Py_ssize_t b, k, n_latent = eps.shape[1]
    cdef floating lv, bs = <floating>(beta * scale)
    with nogil:
        for b in range(eps.shape[0]):
            for k in range(n_latent):
                lv = mu_logvar[b, n_latent + k]
                grad_mu_logvar[b, k] = grad_z[b, k] + bs * mu_logvar[b, k]
                grad_mu_logvar[b, n_latent + k] = (<floating>0.5 * grad_z[b, k] * eps[b, k] * exp(<floating>0.5 * lv)
                                                   + <floating>0.5 * bs * expm1(lv))


def adam_update(floating[::1] param,                             # IN/OUT (n,)
                const floating[::1] grad,                        # IN (n,)
                floating[::1] m, floating[::1] v,                # IN/OUT (n,)
                double lr, double beta1, double beta2, double eps, long step):
    """Bias-corrected Adam, one pass; see ops.adam_update."""
    cdef Py_ssize_t i
    cdef floating g, b1 = <floating>beta1, b2 = <floating>beta2, e = <floating>eps
    cdef floating c1 = <floating>(1.0 / (1.0 - beta1 ** step))
    cdef floating c2 = <floating>(1.0 / (1.0 - beta2 ** step))
    cdef floating lr_ = <floating>lr
    with nogil:
        for i in range(param.shape[0]):
            g = grad[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            param[i] -= lr_ * (m[i] * c1) / (sqrt(v[i] * c2) + e)


def sgd_momentum_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                        double lr, double momentum):
    """velocity = momentum velocity + g;  param -= lr velocity"""
    cdef Py_ssize_t i
    cdef floating mom = <floating>momentum, lr_ = <floating>lr
    with nogil:
        for i in range(param.shape[0]):
            velocity[i] = mom * velocity[i] + grad[i]
            param[i] -= lr_ * velocity[i]
