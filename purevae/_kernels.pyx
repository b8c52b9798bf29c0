# cython: language_level=3
# purevae/_kernels.pyx -- Cython twins of the hot ops in purevae/ops.py: same names, arguments and results.
# Bounds checks are off file-wide (setup.py; PUREVAE_DEBUG_KERNELS=1 turns them on): every kernel trusts
# backend.py (or the model, which validated at its edge) for dtype, C-contiguity and the IN/OUT shapes listed.
# Kernels that walk rows through raw pointers (which bounds checks cannot see) `assert` their shapes instead:
# the asserts are compiled only into the debug build (setup.py defines CYTHON_WITHOUT_ASSERTIONS otherwise).
# One fused `floating` per call: all array arguments of a call share float32 or float64.
#
# Speed notes (numbers: benchmarks/bench_kernels.py, benchmarks/RESULTS.md):
# - float32 calls use float math (expf, log1pf, ...): `_exp` & co. pick the libm function at compile time with
#   `floating is float`, so a float32 kernel never round-trips through double except where a sum says so.
# - Sums over a row (nll, KL) are accumulated in double for both dtypes: the kernel's own rounding is then far
#   below float32's, and the twin's float32 pairwise sum sets the tolerance (tests/test_kernels.py derives it).
# - Loops that the bench shows gain from a second core use `prange`; without OpenMP at build time they are
#   plain loops. Threads follow OMP_NUM_THREADS (never set here).
# - Subnormals: `adam_update` flushes its moments m and v to 0 once |value| < the smallest normal float of the
#   dtype (FLT_MIN / DBL_MIN). A flushed m removes a step below lr * 1.2e-30 / (1 - beta1^t) (float32), a
#   flushed v changes the step by less than 1.1e-11 / sqrt(1 - beta2^t) of itself -- far below the float
#   resolution of any parameter (docs/derivations.md#numerics derives both) -- while subnormal arithmetic is
#   slow on many CPUs, and after a gradient g becomes 0 (dead ReLU units, always-black pixels) float32 m
#   turns subnormal after ~740 steps at |g| = 1e-3 (v after ~66,600). The choice is
#   local to the optimizer state (no MXCSR change, so BLAS and NumPy keep IEEE behaviour); the test
#   tests/test_kernels.py::test_adam_flush_matches_twin_over_many_steps shows the result does not move.
import numpy as np
from cython cimport floating
from cython.parallel cimport prange
from libc.float cimport DBL_MIN, FLT_MIN
from libc.math cimport copysign, copysignf, exp, expf, expm1, expm1f, fabs, fabsf, log, log1p, log1pf, sqrt, sqrtf
from libc.stdlib cimport free, malloc

cdef enum:                       # the codes of ops.ACTIVATIONS
    IDENTITY = 0
    RELU = 1
    TANH = 2
    SOFTPLUS = 3
    LEAKY_RELU = 4
    ELU = 5

cdef extern from *:
    """
    #include <float.h>
    #include <math.h>
    #include <stdint.h>
    #include <string.h>

    /* The two loops that dominate the step outside BLAS (Bernoulli rows, Adam) are compiled three times,
       for AVX-512, AVX2 and the baseline x86-64 (SSE2), and the loader picks the one the CPU runs
       (GCC target_clones, an ifunc: Linux/glibc). Elsewhere they are compiled once, for the baseline. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define PUREVAE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define PUREVAE_CLONES
    #endif

    /* e^-a for a >= 0, in float, without a call or a branch so that a loop of it vectorizes: Cephes' expf
       polynomial (S. L. Moshier), relative error < 1e-7 (tests/test_kernels.py compares with the twin).
       -a = n ln2 + r with |r| <= ln2 / 2;  e^r = 1 + r + r^2 P(r);  2^n written into the exponent bits.
       a is first clamped to 88 by an integer min on its bits (for a >= 0 the bit patterns order like the
       values, and an integer select needs no branch). From a = 87.7 on, n = -127 and the "2^n" bits are
       those of +0: the result is 0 where e^-a < 1.2e-38 would be subnormal (flushed, as in adam_update). */
    static inline float purevae_expnegf(float a) {
        int32_t bits;
        float x, n, r, p, scale;
        memcpy(&bits, &a, sizeof bits);
        bits = bits < 0x42b00000 ? bits : 0x42b00000;                  /* 0x42b00000 is 88.0f */
        memcpy(&a, &bits, sizeof a);
        x = -a;
        n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round(x / ln2): the 1.5 * 2^23 trick */
        r = (x - n * 0.693359375f) + n * 2.12194440e-4f;             /* x - n ln2, ln2 split in two parts */
        p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        bits = ((int32_t)n + 127) << 23;                             /* 2^n, n in [-127, 0]; 2^-127 -> 0 */
        memcpy(&scale, &bits, sizeof scale);
        return p * scale;
    }

    /* e^-a for a >= 0 in double, again without a call or a branch: Cephes' exp (S. L. Moshier), a Pade form
       accurate to about 2 ulp over the reduced range (tests/test_kernels.py compares with NumPy's exp).
       -a = n ln2 + r with |r| <= ln2 / 2;  e^r = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2));  2^n into the exponent.
       n comes out of the rounding itself: adding 1.5 * 2^52 leaves round(-a / ln2) in the low bits of t, so
       bits(t) - bits(1.5 * 2^52) is n as an integer; only integer adds and shifts, which AVX2 vectorizes
       (a double -> int64 conversion would need AVX-512DQ). a is clamped to 709 on its bits as in the float
       version; from a = 708.8 on, n = -1023 and 2^n becomes +0: e^-a < 2.3e-308 is flushed to zero. */
    static inline double purevae_expneg(double a) {
        int64_t bits, tbits;
        double x, t, n, r, rr, px, qx, scale;
        memcpy(&bits, &a, sizeof bits);
        bits = bits < 0x4086280000000000LL ? bits : 0x4086280000000000LL;   /* 709.0 */
        memcpy(&a, &bits, sizeof a);
        x = -a;
        t = x * 1.4426950408889634 + 6755399441055744.0;                /* 1.5 * 2^52 + round(x / ln2) */
        n = t - 6755399441055744.0;
        memcpy(&tbits, &t, sizeof tbits);
        r = (x - n * 6.93145751953125e-1) - n * 1.42860682030941723212e-6;   /* x - n ln2, ln2 in two parts */
        rr = r * r;
        px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1);
        qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
             + 2.0;
        bits = (tbits - 0x4338000000000000LL + 1023) << 52;              /* 2^n, n in [-1023, 0]; 2^-1023 -> 0 */
        memcpy(&scale, &bits, sizeof scale);
        return (1.0 + 2.0 * px / (qx - px)) * scale;
    }

    /* One example of the Bernoulli likelihood; the math is in _bernoulli_row's docstring below. In C for
       one reason: `omp simd reduction` lets the compiler vectorize the two sums without -ffast-math (the
       -fopenmp-simd flag needs no OpenMP runtime). The sigmoid picks r or e r without a branch:
       s = e r + [l >= 0] (r - e r). */
    static PUREVAE_CLONES void purevae_bernoulli_row_f(const float* x, const float* logits, float scale,
                                                       Py_ssize_t k, float* nll, float* grad) {
        double total = 0;
        for (Py_ssize_t start = 0; start < k; start += 512) {
            Py_ssize_t stop = start + 512 < k ? start + 512 : k;
            double acc = 0, product = 1;
            #pragma omp simd reduction(+:acc) reduction(*:product)
            for (Py_ssize_t j = start; j < stop; j++) {
                float l = logits[j];
                float e = purevae_expnegf(fabsf(l));                     /* e^-|l| in (0, 1] */
                float r = 1.0f / (1.0f + e);
                float er = e * r;
                float sigmoid = er + (float)(l >= 0.0f) * (r - er);      /* r if l >= 0 else e r */
                grad[j] = scale * (sigmoid - x[j]);
                acc += (double)((l > 0.0f ? l : 0.0f) - x[j] * l);
                product *= 1.0 + (double)e;
            }
            total += acc + log(product);
        }
        *nll = (float)total;
    }

    static PUREVAE_CLONES void purevae_bernoulli_row_d(const double* x, const double* logits, double scale,
                                                       Py_ssize_t k, double* nll, double* grad) {
        double total = 0;
        for (Py_ssize_t start = 0; start < k; start += 512) {
            Py_ssize_t stop = start + 512 < k ? start + 512 : k;
            double acc = 0, product = 1;
            #pragma omp simd reduction(+:acc) reduction(*:product)
            for (Py_ssize_t j = start; j < stop; j++) {
                double l = logits[j];
                double e = purevae_expneg(fabs(l));                      /* e^-|l| in [0, 1] */
                double r = 1.0 / (1.0 + e);
                double er = e * r;
                grad[j] = scale * (er + (double)(l >= 0.0) * (r - er) - x[j]);
                acc += (l > 0.0 ? l : 0.0) - x[j] * l;
                product *= 1.0 + e;
            }
            total += acc + log(product);
        }
        *nll = total;
    }

    /* The value alone, for evaluation and the IWAE bound's weights: the same sums as above with no sigmoid
       (no division) and no gradient written; returned in double. */
    static PUREVAE_CLONES double purevae_bernoulli_nll_sum_f(const float* x, const float* logits, Py_ssize_t k) {
        double total = 0;
        for (Py_ssize_t start = 0; start < k; start += 512) {
            Py_ssize_t stop = start + 512 < k ? start + 512 : k;
            double acc = 0, product = 1;
            #pragma omp simd reduction(+:acc) reduction(*:product)
            for (Py_ssize_t j = start; j < stop; j++) {
                float l = logits[j];
                acc += (double)((l > 0.0f ? l : 0.0f) - x[j] * l);
                product *= 1.0 + (double)purevae_expnegf(fabsf(l));
            }
            total += acc + log(product);
        }
        return total;
    }

    static PUREVAE_CLONES double purevae_bernoulli_nll_sum_d(const double* x, const double* logits, Py_ssize_t k) {
        double total = 0;
        for (Py_ssize_t start = 0; start < k; start += 512) {
            Py_ssize_t stop = start + 512 < k ? start + 512 : k;
            double acc = 0, product = 1;
            #pragma omp simd reduction(+:acc) reduction(*:product)
            for (Py_ssize_t j = start; j < stop; j++) {
                double l = logits[j];
                acc += (l > 0.0 ? l : 0.0) - x[j] * l;
                product *= 1.0 + purevae_expneg(fabs(l));
            }
            total += acc + log(product);
        }
        return total;
    }

    /* The continuous Bernoulli (docs/derivations.md#continuous-bernoulli), each pixel in double, written so that
       the loop over a row vectorizes (no call, no branch; selects instead): with a = |l|, u = a / 2,
         H(a) = log(a / (1 - e^-a)) = u - log P(u^2)        for a <= 1,  P(t) = sum_n t^n / (2n + 1)! = sinh(u)/u
                = log(m / (1 - e^-a)) + e ln 2               for a > 1,   a = m 2^e, m in [1, 2) (from the bits)
       and the row's logarithms are one log of a product per 512 pixels, as in the Bernoulli rows: every factor
       (1 / P in (0.959, 1], or m / (1 - e^-a) in [1, 3.2)) keeps a product of 512 of them in (1e-9, 1e257).
       e^-a is purevae_expneg (2 ulp). The mean: sigmoid(l) - g(l), g = l S / (1 + l^2 S) for a <= 2 with
       S(t) = sum_n t^n / (2n + 3)! (12 terms), else 1/l - sign(l) 2 E / (1 - E^2). */
    static inline double purevae_cb_factor(double l, double e_neg, double* lin, double* expo) {
        double a = fabs(l), u = 0.5 * a, t = u * u, p, m, big;
        int64_t bits;
        p = 1.0 / 1307674368000.0;                                         /* 1/15! ... 1/1! in t = u^2 */
        p = p * t + 1.0 / 6227020800.0;
        p = p * t + 1.0 / 39916800.0;
        p = p * t + 1.0 / 362880.0;
        p = p * t + 1.0 / 5040.0;
        p = p * t + 1.0 / 120.0;
        p = p * t + 1.0 / 6.0;
        p = p * t + 1.0;
        int64_t ebits;
        double ebiased;
        memcpy(&bits, &a, sizeof bits);
        ebits = (bits >> 52) | 0x4330000000000000LL;       /* 2^52 + the biased exponent, as a double's bits */
        memcpy(&ebiased, &ebits, sizeof ebiased);          /* (no int64 -> double conversion: AVX2 has none) */
        *expo = (a > 1.0) ? ebiased - 4503599627371519.0 : 0.0;            /* - (2^52 + 1023): e, for a > 1 */
        bits = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;       /* m = a / 2^e in [1, 2) */
        memcpy(&m, &bits, sizeof m);
        big = m / (1.0 - e_neg);
        *lin = (a > 1.0) ? 0.0 : u;
        return (a > 1.0) ? big : 1.0 / p;
    }

    static inline double purevae_cb_mean(double l, double e_neg) {
        double a = fabs(l), t = l * l, s, small, large, r, er, sigmoid;
        s = 1.0 / 15511210043330985984000000.0;                            /* 1/25! ... 1/3! in t = l^2 */
        s = s * t + 1.0 / 25852016738884976640000.0;
        s = s * t + 1.0 / 51090942171709440000.0;
        s = s * t + 1.0 / 121645100408832000.0;
        s = s * t + 1.0 / 355687428096000.0;
        s = s * t + 1.0 / 1307674368000.0;
        s = s * t + 1.0 / 6227020800.0;
        s = s * t + 1.0 / 39916800.0;
        s = s * t + 1.0 / 362880.0;
        s = s * t + 1.0 / 5040.0;
        s = s * t + 1.0 / 120.0;
        s = s * t + 1.0 / 6.0;
        small = l * s / (1.0 + t * s);
        large = 1.0 / l - copysign(2.0 * e_neg / (1.0 - e_neg * e_neg), l);
        r = 1.0 / (1.0 + e_neg);
        er = e_neg * r;
        sigmoid = er + (double)(l >= 0.0) * (r - er);
        return sigmoid - ((a <= 2.0) ? small : large);
    }

    #define PUREVAE_CB_ROW(NAME, T, WITH_GRAD)                                                              \
    static PUREVAE_CLONES double NAME(const T* x, const T* logits, double scale, Py_ssize_t k, T* grad) {   \
        double total = 0;                                                                                   \
        for (Py_ssize_t start = 0; start < k; start += 512) {                                               \
            Py_ssize_t stop = start + 512 < k ? start + 512 : k;                                            \
            double acc = 0, product = 1, expo_sum = 0;                                                      \
            _Pragma("omp simd reduction(+:acc) reduction(+:expo_sum) reduction(*:product)")                 \
            for (Py_ssize_t j = start; j < stop; j++) {                                                     \
                double l = logits[j], xv = x[j], lin, expo;                                                 \
                double e_neg = purevae_expneg(fabs(l));                                                     \
                product *= purevae_cb_factor(l, e_neg, &lin, &expo);                                        \
                acc += (l > 0.0 ? l : 0.0) - xv * l - lin;                                                  \
                expo_sum += expo;                                                                           \
                if (WITH_GRAD) grad[j] = (T)(scale * (purevae_cb_mean(l, e_neg) - xv));                     \
            }                                                                                               \
            total += acc - log(product) - expo_sum * 0.69314718055994530942;                                \
        }                                                                                                   \
        return total;                                                                                       \
    }
    PUREVAE_CB_ROW(purevae_cb_row_f, float, 1)
    PUREVAE_CB_ROW(purevae_cb_row_d, double, 1)
    PUREVAE_CB_ROW(purevae_cb_sum_f, float, 0)      /* the value alone: grad is not touched (may be NULL) */
    PUREVAE_CB_ROW(purevae_cb_sum_d, double, 0)

    /* Adam on n elements; the math and the flush of subnormal moments: _adam_span / adam_update below. */
    static PUREVAE_CLONES void purevae_adam_f(float* param, const float* grad, float* m, float* v,
                                              Py_ssize_t n, float lr_c1, float b1, float one_b1, float b2, float one_b2,
                                              float c2, float e) {
        #pragma omp simd
        for (Py_ssize_t i = 0; i < n; i++) {
            float g = grad[i];
            float mi = b1 * m[i] + one_b1 * g;
            float vi = b2 * v[i] + one_b2 * g * g;
            mi = fabsf(mi) >= FLT_MIN ? mi : 0.0f;
            vi = vi >= FLT_MIN ? vi : 0.0f;
            m[i] = mi;
            v[i] = vi;
            param[i] -= lr_c1 * mi / (sqrtf(vi * c2) + e);
        }
    }

    static PUREVAE_CLONES void purevae_adam_d(double* param, const double* grad, double* m, double* v,
                                              Py_ssize_t n, double lr_c1, double b1, double one_b1, double b2,
                                              double one_b2, double c2, double e) {
        #pragma omp simd
        for (Py_ssize_t i = 0; i < n; i++) {
            double g = grad[i];
            double mi = b1 * m[i] + one_b1 * g;
            double vi = b2 * v[i] + one_b2 * g * g;
            mi = fabs(mi) >= DBL_MIN ? mi : 0.0;
            vi = vi >= DBL_MIN ? vi : 0.0;
            m[i] = mi;
            v[i] = vi;
            param[i] -= lr_c1 * mi / (sqrt(vi * c2) + e);
        }
    }
    """
    float purevae_expnegf(float a) nogil
    void purevae_bernoulli_row_f(const float* x, const float* logits, float scale, Py_ssize_t k,
                                 float* nll, float* grad) nogil
    void purevae_bernoulli_row_d(const double* x, const double* logits, double scale, Py_ssize_t k,
                                 double* nll, double* grad) nogil
    double purevae_cb_row_f(const float* x, const float* logits, double scale, Py_ssize_t k, float* grad) nogil
    double purevae_cb_row_d(const double* x, const double* logits, double scale, Py_ssize_t k, double* grad) nogil
    double purevae_cb_sum_f(const float* x, const float* logits, double scale, Py_ssize_t k, float* grad) nogil
    double purevae_cb_sum_d(const double* x, const double* logits, double scale, Py_ssize_t k, double* grad) nogil
    double purevae_bernoulli_nll_sum_f(const float* x, const float* logits, Py_ssize_t k) nogil
    double purevae_bernoulli_nll_sum_d(const double* x, const double* logits, Py_ssize_t k) nogil
    void purevae_adam_f(float* param, const float* grad, float* m, float* v, Py_ssize_t n, float lr_c1, float b1,
                        float one_b1, float b2, float one_b2, float c2, float e) nogil
    void purevae_adam_d(double* param, const double* grad, double* m, double* v, Py_ssize_t n, double lr_c1,
                        double b1, double one_b1, double b2, double one_b2, double c2, double e) nogil


cdef double LOG_2PI = 1.8378770664093453
cdef double LOGVAR_LIMIT = 30.0        # ops.LOGVAR_LIMIT: log-variances are clamped to [-30, 30]


cdef inline floating _clamp_logvar(floating lv) noexcept nogil:
    return <floating>LOGVAR_LIMIT if lv > LOGVAR_LIMIT else (<floating>-LOGVAR_LIMIT if lv < -LOGVAR_LIMIT else lv)
# Work below this many elements runs on one thread: starting the OpenMP team costs more than it saves.
cdef Py_ssize_t PARALLEL_MIN = 1 << 16


# ---------------------------------------------------------------------------------------------
# float math in the precision of the call
# ---------------------------------------------------------------------------------------------
cdef inline floating _exp(floating a) noexcept nogil:
    if floating is float:
        return expf(a)
    else:
        return exp(a)


cdef inline floating _expm1(floating a) noexcept nogil:
    if floating is float:
        return expm1f(a)
    else:
        return expm1(a)


cdef inline floating _log1p(floating a) noexcept nogil:
    if floating is float:
        return log1pf(a)
    else:
        return log1p(a)


cdef inline floating _tanh(floating a) noexcept nogil:
    """tanh(a) = sign(a) (1 - t) / (1 + t), t = e^-2|a| in (0, 1]: one exp, no overflow, no branch.

    libm's tanhf costs ~17 ns here, 20x NumPy's SIMD tanh; this form vectorizes in float32 (purevae_expnegf).
    Near a = 0 its error is ~1 ulp of 1 in absolute terms (the twin's tolerance), not relative.
    """
    cdef floating t
    if floating is float:
        t = purevae_expnegf(2 * fabsf(a))
        return copysignf((1 - t) / (1 + t), a)
    else:
        t = exp(-2 * fabs(a))
        return copysign((1 - t) / (1 + t), a)


cdef inline floating _sqrt(floating a) noexcept nogil:
    if floating is float:
        return sqrtf(a)
    else:
        return sqrt(a)


cdef inline floating _fabs(floating a) noexcept nogil:
    if floating is float:
        return fabsf(a)
    else:
        return fabs(a)


cdef inline floating _activate(floating a, int activation, floating alpha) noexcept nogil:
    """h = f(a); see ops.activation_forward."""
    if activation == RELU:
        return a if a > 0 else 0
    if activation == TANH:
        return _tanh(a)
    if activation == SOFTPLUS:
        return (a if a > 0 else 0) + _log1p(_exp(-_fabs(a)))   # max(a, 0) + log1p(e^-|a|): never overflows
    if activation == LEAKY_RELU:
        return a if a > 0 else alpha * a
    if activation == ELU:
        return a if a > 0 else alpha * _expm1(a)
    return a


cdef inline floating _derivative(floating h, int activation, floating alpha) noexcept nogil:
    """f'(a) from h = f(a); see ops.activation_derivative."""
    if activation == RELU:
        return 1 if h > 0 else 0
    if activation == TANH:
        return 1 - h * h
    if activation == SOFTPLUS:
        return -_expm1(-h)                                      # sigmoid(a) = 1 - e^-h
    if activation == LEAKY_RELU:
        return 1 if h > 0 else alpha
    if activation == ELU:
        return 1 if h > 0 else h + alpha
    return 1


# ---------------------------------------------------------------------------------------------
# dense layers: bias + activation around the GEMM
# ---------------------------------------------------------------------------------------------
# The row helpers take plain pointers: one row at a time keeps the bias / grad_bias row in L1, and the
# ReLU and identity loops (the common cases) are branch-free selects that the C compiler vectorizes.
cdef inline void _forward_row(floating* h, const floating* bias, Py_ssize_t k, int activation,
                              floating alpha) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating a, zero = 0
    if activation == RELU:
        for j in range(k):
            a = h[j] + bias[j]
            h[j] = a if a > zero else zero
    elif activation == IDENTITY:
        for j in range(k):
            h[j] = h[j] + bias[j]
    elif activation == TANH:
        for j in range(k):
            h[j] = _tanh(h[j] + bias[j])
    else:
        for j in range(k):
            h[j] = _activate(h[j] + bias[j], activation, alpha)


cdef inline void _backward_row(const floating* grad_h, const floating* h, Py_ssize_t k, int activation,
                               floating alpha, floating* grad_pre, floating* grad_bias) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating g, zero = 0
    if activation == RELU:
        for j in range(k):
            g = grad_h[j]                                      # loaded unconditionally: a select, no branch
            g = g if h[j] > zero else zero
            grad_pre[j] = g
            grad_bias[j] += g
    elif activation == IDENTITY:
        for j in range(k):
            g = grad_h[j]
            grad_pre[j] = g
            grad_bias[j] += g
    else:
        for j in range(k):
            g = grad_h[j] * _derivative(h[j], activation, alpha)
            grad_pre[j] = g
            grad_bias[j] += g


def bias_activation_forward(floating[:, ::1] h,                 # IN/OUT (batch, n_out): x @ W in, f(x @ W + b) out
                            const floating[::1] bias,           # IN (n_out,)
                            int activation, double alpha):
    """h <- f(h + bias), in place."""
    cdef Py_ssize_t b, n = h.shape[0], k = h.shape[1]
    cdef floating a_ = <floating>alpha
    assert bias.shape[0] == k, "bias must have shape (n_out,)"
    if n == 0 or k == 0:
        return
    with nogil:
        for b in range(n):
            _forward_row(&h[b, 0], &bias[0], k, activation, a_)


def activation_backward_bias(const floating[:, ::1] grad_h,     # IN (batch, n_out)
                             const floating[:, ::1] h,          # IN (batch, n_out), forward output
                             int activation, double alpha,
                             floating[:, ::1] grad_pre,         # OUT (batch, n_out), may alias grad_h
                             floating[::1] grad_bias):          # OUT (n_out,)
    """grad_pre = grad_h * f'(pre);  grad_bias = column sums of grad_pre (row by row: stays in cache)."""
    cdef Py_ssize_t b, j, n = h.shape[0], k = h.shape[1]
    cdef floating a_ = <floating>alpha
    assert grad_h.shape[0] == n and grad_h.shape[1] == k and grad_pre.shape[0] == n and grad_pre.shape[1] == k
    assert grad_bias.shape[0] == k, "grad_bias must have shape (n_out,)"
    if k == 0:
        return
    with nogil:
        for j in range(k):
            grad_bias[j] = 0
        for b in range(n):
            _backward_row(&grad_h[b, 0], &h[b, 0], k, activation, a_, &grad_pre[b, 0], &grad_bias[0])


def label_rows_forward(floating[:, ::1] h,                     # IN/OUT (rows, n_out): x @ W in, x @ W + T[y] out
                       const floating[:, ::1] label_weight,    # IN (n_classes, n_out): T
                       const Py_ssize_t[::1] labels):          # IN (rows,), each in 0 .. n_classes - 1
    """h[r] += label_weight[labels[r]], in place: the conditional first layer's row lookup."""
    cdef Py_ssize_t b, j, c, n = h.shape[0], k = h.shape[1]
    assert labels.shape[0] == n and label_weight.shape[1] == k, "labels (rows,), label_weight (n_classes, n_out)"
    with nogil:
        for b in range(n):
            c = labels[b]
            for j in range(k):
                h[b, j] += label_weight[c, j]


def label_rows_backward(const floating[:, ::1] grad_pre,         # IN (rows, n_out)
                        const Py_ssize_t[::1] labels,            # IN (rows,)
                        floating[:, ::1] grad_label_weight):     # OUT (n_classes, n_out)
    """grad_label_weight[c] = sum of grad_pre[r] over the rows with labels[r] == c (a scatter-add)."""
    cdef Py_ssize_t b, j, c, n = grad_pre.shape[0], k = grad_pre.shape[1]
    assert labels.shape[0] == n and grad_label_weight.shape[1] == k, "labels (rows,), grad (n_classes, n_out)"
    with nogil:
        for c in range(grad_label_weight.shape[0]):
            for j in range(k):
                grad_label_weight[c, j] = 0
        for b in range(n):
            c = labels[b]
            for j in range(k):
                grad_label_weight[c, j] += grad_pre[b, j]


# ---------------------------------------------------------------------------------------------
# likelihoods
# ---------------------------------------------------------------------------------------------
cdef inline void _bernoulli_row(const floating* x, const floating* logits, floating s, Py_ssize_t k,
                                floating* nll, floating* grad) noexcept nogil:
    """One example: nll = sum_j softplus(l_j) - x_j l_j;  grad_j = s (sigmoid(l_j) - x_j).

    softplus(l) = max(l, 0) + log1p(e^-|l|). The log1p terms are summed as one log of a product,
    sum_j log(1 + e_j) = log prod_j (1 + e_j) with every factor in (1, 2], the product kept in double
    and taken every 512 pixels (2^512 < DBL_MAX): a row of 784 pixels costs 784 exp and 2 log instead
    of 784 exp and 784 log1p. sigmoid(l) = 1 / (1 + e^-|l|) for l >= 0, e^-|l| / (1 + e^-|l|) below:
    no overflow at either sign. The loop is C (purevae_bernoulli_row_f/_d above) so that it vectorizes,
    with the branch-free polynomial exponentials purevae_expnegf (float32) and purevae_expneg (float64).
    """
    if floating is float:
        purevae_bernoulli_row_f(x, logits, s, k, nll, grad)
    else:
        purevae_bernoulli_row_d(x, logits, s, k, nll, grad)


cdef inline double _bernoulli_nll_sum(const floating* x, const floating* logits, Py_ssize_t k) noexcept nogil:
    """sum_j softplus(l_j) - x_j l_j in double, without the gradient (the C loops above)."""
    if floating is float:
        return purevae_bernoulli_nll_sum_f(x, logits, k)
    else:
        return purevae_bernoulli_nll_sum_d(x, logits, k)


cdef inline double _log_pz_minus_log_qz(const floating* logvar, const floating* eps, const floating* z,
                                        Py_ssize_t n_latent) noexcept nogil:
    """log p(z) - log q(z|x) = 0.5 sum_j (clamp(lv_j) + eps_j^2 - z_j^2), in double (the log 2 pi cancel)."""
    cdef Py_ssize_t j
    cdef double acc = 0, lv, e, zz
    for j in range(n_latent):
        lv = _clamp_logvar(logvar[j])
        e = eps[j]
        zz = z[j]
        acc += lv + e * e - zz * zz
    return 0.5 * acc


# The likelihood kernels take x of shape (B, D) and the decoder's output of shape (R, D) with R a multiple of B:
# row r of the output goes with x[r % B] (k blocks of B rows: the k samples of z of each example), so that x
# is never copied k times. Rows are independent: prange over all R of them.
def bernoulli_nll_grad(const floating[:, ::1] x,                # IN (B, D), values in [0, 1]
                       const floating[:, ::1] logits,           # IN (R, D), R = k B
                       const double[::1] scale,                 # IN (R,): each row's weight in the loss
                       floating[::1] nll,                       # OUT (R,)
                       floating[:, ::1] grad_logits):           # OUT (R, D)
    """nll[r] = sum_j log(1 + e^l_rj) - x_bj l_rj;   grad_logits[r] = scale[r] * (sigmoid(l_r) - x_b),  b = r % B"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and grad_logits.shape[0] == n and grad_logits.shape[1] == k
    assert nll.shape[0] == n and scale.shape[0] == n, "nll and scale must have shape (rows,)"
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                _bernoulli_row(&x[r % nx, 0], &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])
        else:
            for r in range(n):
                _bernoulli_row(&x[r % nx, 0], &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])


def bernoulli_nll(const floating[:, ::1] x,                     # IN (B, D), values in [0, 1]
                  const floating[:, ::1] logits,                # IN (R, D), R = k B
                  floating[::1] nll):                           # OUT (R,)
    """nll[r] = sum_j log(1 + e^l_rj) - x_bj l_rj (b = r % B): bernoulli_nll_grad's value without the gradient"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and nll.shape[0] == n
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                nll[r] = <floating>_bernoulli_nll_sum(&x[r % nx, 0], &logits[r, 0], k)
        else:
            for r in range(n):
                nll[r] = <floating>_bernoulli_nll_sum(&x[r % nx, 0], &logits[r, 0], k)


# ---------------------------------------------------------------------------------------------
# multinomial over a vocabulary (bag of words): nll = N LSE(l) - sum_w x_w l_w, grad = s (N softmax(l) - x)
# ---------------------------------------------------------------------------------------------
cdef inline double _lse_row(const floating* l, Py_ssize_t k) noexcept nogil:
    """log sum_j e^l_j = m + log sum_j e^(l_j - m), m = max_j l_j (k >= 1): no term overflows, one is 1."""
    cdef Py_ssize_t j
    cdef double m = l[0], total = 0
    for j in range(1, k):
        if l[j] > m:
            m = l[j]
    if floating is float:
        for j in range(k):
            total += expf(<float>(l[j] - m))
    else:
        for j in range(k):
            total += exp(l[j] - m)
    return m + log(total)


cdef inline void _softmax_scaled(const floating* l, double lse, floating a, Py_ssize_t k,
                                 floating* grad) noexcept nogil:
    """grad_j = a e^(l_j - lse) = a softmax(l)_j."""
    cdef Py_ssize_t j
    if floating is float:
        for j in range(k):
            grad[j] = a * expf(<float>(l[j] - lse))
    else:
        for j in range(k):
            grad[j] = a * exp(l[j] - lse)


cdef inline void _multinomial_row(const floating* x, const floating* l, floating s, Py_ssize_t k,
                                  floating* nll, floating* grad) noexcept nogil:
    """One row, dense counts: nll = N LSE(l) - x . l; grad (unless NULL) = s (N softmax(l) - x)."""
    cdef Py_ssize_t j
    cdef double n_words = 0, dot = 0, lse = _lse_row(l, k)
    for j in range(k):
        n_words += x[j]
        dot += x[j] * l[j]
    nll[0] = <floating>(n_words * lse - dot)
    if grad != NULL:
        _softmax_scaled(l, lse, <floating>(s * n_words), k, grad)
        for j in range(k):
            grad[j] -= s * x[j]


cdef inline void _multinomial_csr_row(const floating* data, const Py_ssize_t* words, Py_ssize_t nnz,
                                      const floating* l, floating s, Py_ssize_t k,
                                      floating* nll, floating* grad) noexcept nogil:
    """One row, counts as its nnz stored (word, count) pairs: the x-weighted terms touch only those."""
    cdef Py_ssize_t t
    cdef double n_words = 0, dot = 0, lse = _lse_row(l, k)
    for t in range(nnz):
        n_words += data[t]
        dot += data[t] * l[words[t]]
    nll[0] = <floating>(n_words * lse - dot)
    if grad != NULL:
        _softmax_scaled(l, lse, <floating>(s * n_words), k, grad)
        for t in range(nnz):
            grad[words[t]] -= s * data[t]


def multinomial_nll_grad(const floating[:, ::1] x,              # IN (B, V), word counts
                         const floating[:, ::1] logits,         # IN (R, V), R = k B
                         const double[::1] scale,               # IN (R,)
                         floating[::1] nll,                     # OUT (R,)
                         floating[:, ::1] grad_logits):         # OUT (R, V)
    """nll[r] = N_b LSE(l_r) - x_b . l_r;  grad_logits[r] = scale[r] (N_b softmax(l_r) - x_b),  b = r % B"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and grad_logits.shape[0] == n and grad_logits.shape[1] == k
    assert nll.shape[0] == n and scale.shape[0] == n, "nll and scale must have shape (rows,)"
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                _multinomial_row(&x[r % nx, 0], &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])
        else:
            for r in range(n):
                _multinomial_row(&x[r % nx, 0], &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])


def multinomial_nll(const floating[:, ::1] x,                   # IN (B, V), word counts
                    const floating[:, ::1] logits,              # IN (R, V), R = k B
                    floating[::1] nll):                         # OUT (R,)
    """nll[r] = N_b LSE(l_r) - x_b . l_r (b = r % B): multinomial_nll_grad's value without the gradient"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and nll.shape[0] == n
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                _multinomial_row(&x[r % nx, 0], &logits[r, 0], 0, k, &nll[r], NULL)
        else:
            for r in range(n):
                _multinomial_row(&x[r % nx, 0], &logits[r, 0], 0, k, &nll[r], NULL)


def multinomial_nll_grad_csr(const floating[::1] x_data,        # IN (nnz,), counts of canonical CSR x (B rows)
                             const Py_ssize_t[::1] x_indices,   # IN (nnz,), their words in 0 .. V-1
                             const Py_ssize_t[::1] x_indptr,    # IN (B + 1,)
                             const floating[:, ::1] logits,     # IN (R, V), R = k B
                             const double[::1] scale,           # IN (R,)
                             floating[::1] nll,                 # OUT (R,)
                             floating[:, ::1] grad_logits):     # OUT (R, V)
    """multinomial_nll_grad for CSR counts: the x-weighted sums and subtractions visit the nonzeros only."""
    cdef Py_ssize_t r, b, n = logits.shape[0], nx = x_indptr.shape[0] - 1, k = logits.shape[1]
    cdef const floating* data = NULL
    cdef const Py_ssize_t* words = NULL
    assert nx >= 0 and grad_logits.shape[0] == n and grad_logits.shape[1] == k
    assert nll.shape[0] == n and scale.shape[0] == n, "nll and scale must have shape (rows,)"
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    assert x_indices.shape[0] == x_data.shape[0] and (nx == 0 or x_indptr[nx] == x_data.shape[0])
    if k == 0 or n == 0:
        nll[:] = 0
        return
    if x_data.shape[0] > 0:
        data, words = &x_data[0], &x_indices[0]
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                b = r % nx
                _multinomial_csr_row(data + x_indptr[b], words + x_indptr[b], x_indptr[b + 1] - x_indptr[b],
                                     &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])
        else:
            for r in range(n):
                b = r % nx
                _multinomial_csr_row(data + x_indptr[b], words + x_indptr[b], x_indptr[b + 1] - x_indptr[b],
                                     &logits[r, 0], <floating>scale[r], k, &nll[r], &grad_logits[r, 0])


def multinomial_nll_csr(const floating[::1] x_data,             # IN (nnz,)
                        const Py_ssize_t[::1] x_indices,        # IN (nnz,)
                        const Py_ssize_t[::1] x_indptr,         # IN (B + 1,)
                        const floating[:, ::1] logits,          # IN (R, V), R = k B
                        floating[::1] nll):                     # OUT (R,)
    """multinomial_nll for CSR counts (the value of multinomial_nll_grad_csr without the gradient)."""
    cdef Py_ssize_t r, b, n = logits.shape[0], nx = x_indptr.shape[0] - 1, k = logits.shape[1]
    cdef const floating* data = NULL
    cdef const Py_ssize_t* words = NULL
    assert nx >= 0 and nll.shape[0] == n
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    assert x_indices.shape[0] == x_data.shape[0] and (nx == 0 or x_indptr[nx] == x_data.shape[0])
    if k == 0 or n == 0:
        nll[:] = 0
        return
    if x_data.shape[0] > 0:
        data, words = &x_data[0], &x_indices[0]
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                b = r % nx
                _multinomial_csr_row(data + x_indptr[b], words + x_indptr[b], x_indptr[b + 1] - x_indptr[b],
                                     &logits[r, 0], 0, k, &nll[r], NULL)
        else:
            for r in range(n):
                b = r % nx
                _multinomial_csr_row(data + x_indptr[b], words + x_indptr[b], x_indptr[b + 1] - x_indptr[b],
                                     &logits[r, 0], 0, k, &nll[r], NULL)


def bernoulli_log_weights(const floating[:, ::1] x,             # IN (B, D)
                          const floating[:, ::1] logits,        # IN (s B, D): row i B + b is sample i of b
                          const floating[:, ::1] mu_logvar,     # IN (B, 2 L)
                          const floating[:, :, ::1] eps,        # IN (s, B, L)
                          const floating[:, :, ::1] z,          # IN (s, B, L), z = mu + e^(lv/2) eps
                          double[:, ::1] log_w):                # OUT (s, B)
    """log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b), in double, one pass over each row."""
    cdef Py_ssize_t r, i, b, s = eps.shape[0], nx = eps.shape[1], n_latent = eps.shape[2], k = x.shape[1]
    cdef Py_ssize_t n = s * nx
    assert x.shape[0] == nx and logits.shape[0] == n and logits.shape[1] == k and log_w.shape[0] == s
    assert log_w.shape[1] == nx and mu_logvar.shape[0] == nx and mu_logvar.shape[1] == 2 * n_latent
    assert z.shape[0] == s and z.shape[1] == nx and z.shape[2] == n_latent
    if n == 0:
        return
    if k == 0 or n_latent == 0:                 # an empty row or latent: no pointer into a zero-width axis
        from . import ops
        ops.bernoulli_log_weights(np.asarray(x), np.asarray(logits), np.asarray(mu_logvar), np.asarray(eps), np.asarray(z), np.asarray(log_w))
        return
    with nogil:
        if n * k >= PARALLEL_MIN:
            for r in prange(n, schedule="static"):
                log_w[r // nx, r % nx] = (_log_pz_minus_log_qz(&mu_logvar[r % nx, n_latent], &eps[r // nx, r % nx, 0],
                                                               &z[r // nx, r % nx, 0], n_latent)
                                          - _bernoulli_nll_sum(&x[r % nx, 0], &logits[r, 0], k))
        else:
            for r in range(n):
                i, b = r // nx, r % nx
                log_w[i, b] = (_log_pz_minus_log_qz(&mu_logvar[b, n_latent], &eps[i, b, 0], &z[i, b, 0], n_latent)
                               - _bernoulli_nll_sum(&x[b, 0], &logits[r, 0], k))


cdef inline double _gaussian_nll_sum(const floating* x, const floating* mean, const floating* inv_var,
                                     double const_part, Py_ssize_t k) noexcept nogil:
    """0.5 (sum_j (log 2 pi + lv_j)  +  sum_j (m_j - x_j)^2 / sigma_j^2), the first sum given as const_part."""
    cdef Py_ssize_t j
    cdef floating d
    cdef double acc = 0
    for j in range(k):
        d = mean[j] - x[j]
        acc += d * (d * inv_var[j])
    return 0.5 * (const_part + acc)


cdef floating* _gaussian_constants(const floating[::1] logvar, double* const_part) except NULL:
    """A new array 1 / sigma_j^2 = e^-clamp(lv_j) (the caller frees it), and sum_j (log 2 pi + clamp(lv_j))."""
    cdef Py_ssize_t j, k = logvar.shape[0]
    cdef floating* inv_var = <floating*>malloc(max(k, 1) * sizeof(floating))   # scratch, made before the loop
    if inv_var == NULL:
        raise MemoryError()
    const_part[0] = 0
    for j in range(k):
        inv_var[j] = _exp(-_clamp_logvar(logvar[j]))                   # once per pixel, not per example
        const_part[0] += LOG_2PI + _clamp_logvar(logvar[j])
    return inv_var


def gaussian_nll(const floating[:, ::1] x,                      # IN (B, D)
                 const floating[:, ::1] mean,                   # IN (R, D), R = k B
                 const floating[::1] logvar,                    # IN (D,)
                 floating[::1] nll):                            # OUT (R,)
    """nll_r = 0.5 sum_j (log 2pi + lv_j + (x_bj - m_rj)^2 e^-lv_j), b = r % B: gaussian_nll_grad's value alone"""
    cdef Py_ssize_t r, n = mean.shape[0], nx = x.shape[0], k = x.shape[1]
    cdef double const_part
    assert mean.shape[1] == k and logvar.shape[0] == k and nll.shape[0] == n
    assert (nx > 0 and n % nx == 0) or n == 0, "mean must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0                              # a row of no pixels: 0.5 * (0 + 0)
        return
    cdef floating* inv_var = _gaussian_constants(logvar, &const_part)
    with nogil:
        for r in range(n):
            nll[r] = <floating>_gaussian_nll_sum(&x[r % nx, 0], &mean[r, 0], inv_var, const_part, k)
    free(inv_var)


def gaussian_log_weights(const floating[:, ::1] x,              # IN (B, D)
                         const floating[:, ::1] mean,           # IN (s B, D)
                         const floating[::1] logvar,            # IN (D,)
                         const floating[:, ::1] mu_logvar,      # IN (B, 2 L)
                         const floating[:, :, ::1] eps,         # IN (s, B, L)
                         const floating[:, :, ::1] z,           # IN (s, B, L)
                         double[:, ::1] log_w):                 # OUT (s, B)
    """log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b), in double, one pass over each row."""
    cdef Py_ssize_t r, i, b, s = eps.shape[0], nx = eps.shape[1], n_latent = eps.shape[2], k = x.shape[1]
    cdef double const_part
    assert x.shape[0] == nx and mean.shape[0] == s * nx and mean.shape[1] == k and logvar.shape[0] == k
    assert log_w.shape[0] == s and log_w.shape[1] == nx and mu_logvar.shape[0] == nx
    assert mu_logvar.shape[1] == 2 * n_latent and z.shape[0] == s and z.shape[1] == nx and z.shape[2] == n_latent
    if s * nx == 0:
        return
    if k == 0 or n_latent == 0:                 # an empty row or latent: no pointer into a zero-width axis
        from . import ops
        ops.gaussian_log_weights(np.asarray(x), np.asarray(mean), np.asarray(logvar), np.asarray(mu_logvar), np.asarray(eps), np.asarray(z), np.asarray(log_w))
        return
    cdef floating* inv_var = _gaussian_constants(logvar, &const_part)
    with nogil:
        for r in range(s * nx):
            i, b = r // nx, r % nx
            log_w[i, b] = (_log_pz_minus_log_qz(&mu_logvar[b, n_latent], &eps[i, b, 0], &z[i, b, 0], n_latent)
                           - _gaussian_nll_sum(&x[b, 0], &mean[r, 0], inv_var, const_part, k))
    free(inv_var)


def gaussian_nll_grad(const floating[:, ::1] x,                 # IN (B, D)
                      const floating[:, ::1] mean,              # IN (R, D), R = k B
                      const floating[::1] logvar,               # IN (D,)
                      const double[::1] scale,                  # IN (R,): each row's weight in the loss
                      floating[::1] nll,                        # OUT (R,)
                      floating[:, ::1] grad_mean,               # OUT (R, D)
                      floating[::1] grad_logvar):               # OUT (D,)
    """nll_r = 0.5 sum_j (log 2pi + lv_j + (x-m)^2 e^-lv_j);  grad_mean[r] = s_r (m-x) e^-lv;
    grad_lv_j = sum_r s_r (1 - (x-m)^2 e^-lv_j) / 2   (x = x[r % B])"""
    cdef Py_ssize_t r, j, n = mean.shape[0], nx = x.shape[0], k = x.shape[1]
    cdef floating d, q, s
    cdef double acc, const_part
    assert mean.shape[1] == k and logvar.shape[0] == k and nll.shape[0] == n and scale.shape[0] == n
    assert grad_mean.shape[0] == n and grad_mean.shape[1] == k and grad_logvar.shape[0] == k
    assert (nx > 0 and n % nx == 0) or n == 0, "mean must hold whole blocks of x's rows"
    cdef floating* inv_var = _gaussian_constants(logvar, &const_part)
    with nogil:
        for j in range(k):
            grad_logvar[j] = 0
        for r in range(n):
            acc = 0
            s = <floating>scale[r]
            for j in range(k):
                d = mean[r, j] - x[r % nx, j]
                q = d * inv_var[j]                                # (m - x) / sigma^2
                acc += d * q
                grad_mean[r, j] = s * q
                grad_logvar[j] += s * (1 - d * q)
            nll[r] = <floating>(0.5 * (const_part + acc))
        for j in range(k):
            if logvar[j] > LOGVAR_LIMIT or logvar[j] < -LOGVAR_LIMIT:
                grad_logvar[j] = 0                                # flat beyond the clamp
            else:
                grad_logvar[j] *= <floating>0.5
    free(inv_var)


# ---------------------------------------------------------------------------------------------
# reparameterization and KL
# ---------------------------------------------------------------------------------------------
def reparameterize_kl_forward(const floating[:, ::1] mu_logvar,   # IN (batch, 2 L)
                              const floating[:, ::1] eps,         # IN (batch, L)
                              floating[:, ::1] z,                 # OUT (batch, L)
                              floating[::1] kl):                  # OUT (batch,)
    """z = mu + exp(logvar/2) eps;  kl_b = 0.5 sum_k (mu^2 + e^logvar - logvar - 1)   (one exp: e^logvar = sigma^2)"""
    cdef Py_ssize_t b, k, n_latent = eps.shape[1]
    cdef floating mu, lv, sigma
    cdef double acc
    with nogil:
        for b in range(eps.shape[0]):
            acc = 0
            for k in range(n_latent):
                mu = mu_logvar[b, k]
                lv = _clamp_logvar(mu_logvar[b, n_latent + k])
                sigma = _exp(<floating>0.5 * lv)
                z[b, k] = mu + sigma * eps[b, k]
                acc += mu * mu + sigma * sigma - lv - 1
            kl[b] = <floating>(0.5 * acc)


def reparameterize_kl_backward(const floating[:, ::1] mu_logvar,  # IN (batch, 2 L)
                               const floating[:, ::1] eps,        # IN (batch, L)
                               const floating[:, ::1] grad_z,     # IN (batch, L)
                               const double[::1] beta,            # IN (L,): the KL weight of each dimension
                               double scale,
                               floating[:, ::1] grad_mu_logvar):  # OUT (batch, 2 L)
    """grad_mu = grad_z + beta_k s mu;  grad_logvar = grad_z eps sigma / 2 + beta_k s (sigma^2 - 1) / 2"""
    cdef Py_ssize_t b, k, n_latent = eps.shape[1]
    cdef floating sigma, lv, bs, half = 0.5
    assert beta.shape[0] == n_latent, "beta must have shape (n_latent,)"
    with nogil:
        for b in range(eps.shape[0]):
            for k in range(n_latent):
                bs = <floating>(beta[k] * scale)
                lv = mu_logvar[b, n_latent + k]
                grad_mu_logvar[b, k] = grad_z[b, k] + bs * mu_logvar[b, k]
                if lv > LOGVAR_LIMIT or lv < -LOGVAR_LIMIT:
                    grad_mu_logvar[b, n_latent + k] = 0               # flat beyond the clamp
                else:
                    sigma = _exp(half * lv)
                    grad_mu_logvar[b, n_latent + k] = half * (grad_z[b, k] * eps[b, k] * sigma + bs * (sigma * sigma - 1))


# ---------------------------------------------------------------------------------------------
# the importance-weighted bound (training objective "iwae")
# ---------------------------------------------------------------------------------------------
def iwae_weights(const floating[:, ::1] nll,          # IN (k, B): -log p(x_b | z_ib)
                 const floating[:, ::1] mu_logvar,    # IN (B, 2 L)
                 const floating[:, :, ::1] eps,       # IN (k, B, L)
                 const floating[:, :, ::1] z,         # IN (k, B, L)
                 double beta, double scale,
                 double[::1] loss,                    # OUT (B,): log k - logsumexp_i log w_ib
                 double[:, ::1] weights):             # OUT (k, B): scale * softmax_i log w_ib
    """log w_ib = -nll_ib + beta/2 sum_j (lv_bj + eps^2 - z^2); loss_b = log k - lse_i; weights = scale e^(lw - lse).

    Everything in double; the max over i is subtracted before exp. weights holds log w until the last pass.
    """
    cdef Py_ssize_t i, b, j, k = eps.shape[0], n = eps.shape[1], n_latent = eps.shape[2]
    cdef double top, total, lse, log_k = log(<double>k)
    assert nll.shape[0] == k and nll.shape[1] == n and mu_logvar.shape[0] == n and mu_logvar.shape[1] == 2 * n_latent
    assert z.shape[0] == k and z.shape[1] == n and z.shape[2] == n_latent
    assert loss.shape[0] == n and weights.shape[0] == k and weights.shape[1] == n
    with nogil:
        for b in range(n):
            top = -1e308
            for i in range(k):
                weights[i, b] = (-<double>nll[i, b]                            # log w_ib for now
                                 + beta * _log_pz_minus_log_qz(&mu_logvar[b, n_latent], &eps[i, b, 0], &z[i, b, 0],
                                                               n_latent))
                if weights[i, b] > top:
                    top = weights[i, b]
            total = 0
            for i in range(k):
                weights[i, b] = exp(weights[i, b] - top)                      # <= 1, the largest is 1
                total += weights[i, b]
            lse = top + log(total)
            loss[b] = log_k - lse
            for i in range(k):
                weights[i, b] = scale * (weights[i, b] / total)


def iwae_backward(const floating[:, ::1] mu_logvar,   # IN (B, 2 L)
                  const floating[:, :, ::1] eps,      # IN (k, B, L)
                  const floating[:, :, ::1] z,        # IN (k, B, L)
                  const floating[:, :, ::1] grad_z,   # IN (k, B, L): through the decoder
                  const double[:, ::1] weights,       # IN (k, B): from iwae_weights
                  double beta,
                  floating[:, ::1] grad_mu_logvar):   # OUT (B, 2 L)
    """g = grad_z + beta w z;  grad_mu = sum_i g;  grad_lv = sum_i g eps sigma / 2 - beta sum_i w / 2  (0 beyond the clamp)"""
    cdef Py_ssize_t i, b, j, k = eps.shape[0], n = eps.shape[1], n_latent = eps.shape[2]
    cdef double g, gmu, glv, wsum, lv, sigma
    assert mu_logvar.shape[0] == n and mu_logvar.shape[1] == 2 * n_latent and weights.shape[0] == k
    assert z.shape[0] == k and grad_z.shape[0] == k and grad_mu_logvar.shape[0] == n
    with nogil:
        for b in range(n):
            wsum = 0
            for i in range(k):
                wsum += weights[i, b]
            for j in range(n_latent):
                lv = mu_logvar[b, n_latent + j]
                sigma = exp(0.5 * <double>_clamp_logvar(mu_logvar[b, n_latent + j]))
                gmu = 0
                glv = 0
                for i in range(k):
                    g = <double>grad_z[i, b, j] + beta * weights[i, b] * <double>z[i, b, j]
                    gmu += g
                    glv += g * <double>eps[i, b, j]
                grad_mu_logvar[b, j] = <floating>gmu
                if lv > LOGVAR_LIMIT or lv < -LOGVAR_LIMIT:
                    grad_mu_logvar[b, n_latent + j] = 0                           # flat beyond the clamp
                else:
                    grad_mu_logvar[b, n_latent + j] = <floating>(0.5 * sigma * glv - 0.5 * beta * wsum)


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
cdef inline void _adam_span(floating* param, const floating* grad, floating* m, floating* v,
                            Py_ssize_t start, Py_ssize_t stop, floating lr_c1, floating b1, floating one_b1,
                            floating b2, floating one_b2, floating c2, floating e) noexcept nogil:
    """Adam on elements [start, stop), one pass:

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   m, v <- 0 where |m|, v < smallest normal float
        param -= lr_c1 m / (sqrt(v c2) + e)

    1 - beta1 and 1 - beta2 come in rounded from double, as the twin's Python floats are. The loop is C
    (purevae_adam_f/_d above): compiled for AVX-512 / AVX2 / baseline, chosen at load time.
    """
    if floating is float:
        purevae_adam_f(param + start, grad + start, m + start, v + start, stop - start, lr_c1, b1, one_b1, b2,
                       one_b2, c2, e)
    else:
        purevae_adam_d(param + start, grad + start, m + start, v + start, stop - start, lr_c1, b1, one_b1, b2,
                       one_b2, c2, e)


def adam_update(floating[::1] param,                             # IN/OUT (n,)
                const floating[::1] grad,                        # IN (n,)
                floating[::1] m, floating[::1] v,                # IN/OUT (n,)
                double lr, double beta1, double beta2, double eps, long step):
    """Bias-corrected Adam, one pass; see ops.adam_update.

    m_hat / (sqrt(v_hat) + eps) is computed as (m c1) / (sqrt(v c2) + eps) with c1 = 1 / (1 - beta1^t),
    c2 = 1 / (1 - beta2^t) taken once in double, and lr folded into c1.
    """
    cdef Py_ssize_t n = param.shape[0], chunk, t, n_chunks
    cdef floating b1 = <floating>beta1, b2 = <floating>beta2, e = <floating>eps
    cdef floating one_b1 = <floating>(1.0 - beta1), one_b2 = <floating>(1.0 - beta2)
    cdef floating lr_c1 = <floating>(lr / (1.0 - beta1 ** step))
    cdef floating c2 = <floating>(1.0 / (1.0 - beta2 ** step))
    assert grad.shape[0] == n and m.shape[0] == n and v.shape[0] == n, "grad, m, v must have the shape of param"
    if n == 0:
        return
    with nogil:
        if n >= PARALLEL_MIN:
            n_chunks = 64
            chunk = (n + n_chunks - 1) // n_chunks
            for t in prange(n_chunks, schedule="static"):
                _adam_span(&param[0], &grad[0], &m[0], &v[0], min(t * chunk, n), min((t + 1) * chunk, n),
                           lr_c1, b1, one_b1, b2, one_b2, c2, e)
        else:
            _adam_span(&param[0], &grad[0], &m[0], &v[0], 0, n, lr_c1, b1, one_b1, b2, one_b2, c2, e)


def sgd_momentum_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                        double lr, double momentum):
    """velocity = momentum velocity + g;  param -= lr velocity"""
    cdef Py_ssize_t i
    cdef floating mom = <floating>momentum, lr_ = <floating>lr
    with nogil:
        for i in range(param.shape[0]):
            velocity[i] = mom * velocity[i] + grad[i]
            param[i] -= lr_ * velocity[i]


# ---------------------------------------------------------------------------------------------
# build information
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# the continuous Bernoulli on logits (ops.continuous_bernoulli_*): every element in double, for both dtypes
# ---------------------------------------------------------------------------------------------
cdef inline double _cb_nll_sum(const floating* x, const floating* logits, Py_ssize_t k) noexcept nogil:
    """sum_j max(l_j, 0) - x_j l_j - H(|l_j|), in double (purevae_cb_sum_*, the C block above)."""
    if floating is float:
        return purevae_cb_sum_f(x, logits, 0.0, k, NULL)
    else:
        return purevae_cb_sum_d(x, logits, 0.0, k, NULL)


cdef inline double _cb_row(const floating* x, const floating* logits, double scale, Py_ssize_t k,
                           floating* grad) noexcept nogil:
    """The same sum, returned, and grad_j = scale (E[x | l_j] - x_j) written (purevae_cb_row_*)."""
    if floating is float:
        return purevae_cb_row_f(x, logits, scale, k, grad)
    else:
        return purevae_cb_row_d(x, logits, scale, k, grad)


def continuous_bernoulli_nll(const floating[:, ::1] x,          # IN (B, D), values in [0, 1]
                             const floating[:, ::1] logits,     # IN (R, D), R = k B
                             floating[::1] nll):                # OUT (R,)
    """nll[r] = sum_j max(l_rj, 0) - x_bj l_rj - H(|l_rj|) (b = r % B): -log p of the continuous Bernoulli"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and nll.shape[0] == n
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        for r in prange(n, schedule="static"):
            nll[r] = <floating>_cb_nll_sum(&x[r % nx, 0], &logits[r, 0], k)


def continuous_bernoulli_nll_grad(const floating[:, ::1] x,     # IN (B, D), values in [0, 1]
                                  const floating[:, ::1] logits,  # IN (R, D), R = k B
                                  const double[::1] scale,      # IN (R,): each row's weight in the loss
                                  floating[::1] nll,            # OUT (R,)
                                  floating[:, ::1] grad_logits):  # OUT (R, D)
    """nll as continuous_bernoulli_nll; grad_logits[r] = scale[r] * (E[x | l_r] - x_b), in one pass"""
    cdef Py_ssize_t r, n = logits.shape[0], nx = x.shape[0], k = x.shape[1]
    assert logits.shape[1] == k and grad_logits.shape[0] == n and grad_logits.shape[1] == k
    assert nll.shape[0] == n and scale.shape[0] == n, "nll and scale must have shape (rows,)"
    assert (nx > 0 and n % nx == 0) or n == 0, "logits must hold whole blocks of x's rows"
    if k == 0 or n == 0:
        nll[:] = 0
        return
    with nogil:
        for r in prange(n, schedule="static"):
            nll[r] = <floating>_cb_row(&x[r % nx, 0], &logits[r, 0], scale[r], k, &grad_logits[r, 0])


def continuous_bernoulli_log_weights(const floating[:, ::1] x,          # IN (B, D)
                                     const floating[:, ::1] logits,     # IN (s B, D)
                                     const floating[:, ::1] mu_logvar,  # IN (B, 2 L)
                                     const floating[:, :, ::1] eps,     # IN (s, B, L)
                                     const floating[:, :, ::1] z,       # IN (s, B, L)
                                     double[:, ::1] log_w):             # OUT (s, B)
    """log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b) for the continuous Bernoulli, in double"""
    cdef Py_ssize_t r, s = eps.shape[0], nx = eps.shape[1], n_latent = eps.shape[2], k = x.shape[1]
    cdef Py_ssize_t n = s * nx
    assert x.shape[0] == nx and logits.shape[0] == n and logits.shape[1] == k and log_w.shape[0] == s
    assert log_w.shape[1] == nx and mu_logvar.shape[0] == nx and mu_logvar.shape[1] == 2 * n_latent
    assert z.shape[0] == s and z.shape[1] == nx and z.shape[2] == n_latent
    if n == 0:
        return
    if k == 0 or n_latent == 0:                 # an empty row or latent: no pointer into a zero-width axis
        from . import ops
        ops.continuous_bernoulli_log_weights(np.asarray(x), np.asarray(logits), np.asarray(mu_logvar),
                                             np.asarray(eps), np.asarray(z), np.asarray(log_w))
        return
    with nogil:
        for r in prange(n, schedule="static"):
            log_w[r // nx, r % nx] = (_log_pz_minus_log_qz(&mu_logvar[r % nx, n_latent], &eps[r // nx, r % nx, 0],
                                                           &z[r // nx, r % nx, 0], n_latent)
                                      - _cb_nll_sum(&x[r % nx, 0], &logits[r, 0], k))


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int purevae_openmp_threads(void) { return omp_get_max_threads(); }
    #else
    static int purevae_openmp_threads(void) { return 0; }
    #endif
    """
    int purevae_openmp_threads() nogil


def openmp_threads():
    """OpenMP threads a `prange` loop would use now (OMP_NUM_THREADS); 0 when built without OpenMP."""
    return purevae_openmp_threads()
