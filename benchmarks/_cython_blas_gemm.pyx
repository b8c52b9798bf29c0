# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""C = op(A) @ op(B) through scipy.linalg.cython_blas, for benchmarks/bench_blas.py only (not in the package).

NumPy arrays are row-major and BLAS is column-major: a row-major C (m, n) is a column-major C^T, and
C^T = op(B)^T op(A)^T, so the call passes B first and A second with the same transpose flags.
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


def gemm(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c, bint trans_a, bint trans_b):
    """c = op(a) @ op(b) for C-contiguous arrays; op transposes when its flag is set."""
    cdef int m = c.shape[0], n = c.shape[1]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    cdef char ta = b'T' if trans_b else b'N'        # the op of B in the column-major call
    cdef char tb = b'T' if trans_a else b'N'        # the op of A
    cdef int ldb = b.shape[1], lda = a.shape[1], ldc = n
    cdef floating one = 1, zero = 0
    if (a.shape[1] if trans_a else a.shape[0]) != m or (b.shape[0] if trans_b else b.shape[1]) != n \
            or (b.shape[1] if trans_b else b.shape[0]) != k:
        raise ValueError("gemm: shapes do not agree")
    with nogil:
        if floating is float:
            sgemm(&ta, &tb, &n, &m, &k, &one, <float*>&b[0, 0], &ldb, <float*>&a[0, 0], &lda, &zero, &c[0, 0], &ldc)
        else:
            dgemm(&ta, &tb, &n, &m, &k, &one, <double*>&b[0, 0], &ldb, <double*>&a[0, 0], &lda, &zero, &c[0, 0],
                  &ldc)
